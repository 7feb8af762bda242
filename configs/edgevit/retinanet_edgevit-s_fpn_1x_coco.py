_base_ = './retinanet_edgevit-xxs_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        arch='s',
        init_cfg=dict(checkpoint='work_dirs/edgevit-s_8xb256_in1k/epoch_300.pth')),
    neck=dict(in_channels=[48, 96, 240, 384]))
