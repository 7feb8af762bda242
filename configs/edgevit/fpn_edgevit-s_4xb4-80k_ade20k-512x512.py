_base_ = './fpn_edgevit-xxs_4xb4-80k_ade20k-512x512.py'

model = dict(
    backbone=dict(
        arch='s',
        init_cfg=dict(checkpoint='work_dirs/edgevit-s_8xb256_in1k/epoch_300.pth')),
    neck=dict(in_channels=[48, 96, 240, 384]))
