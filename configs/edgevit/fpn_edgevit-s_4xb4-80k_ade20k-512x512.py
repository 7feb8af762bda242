_base_ = './fpn_edgevit-xxs_4xb4-80k_ade20k-512x512.py'

model = dict(backbone=dict(arch='s'), neck=dict(in_channels=[48, 96, 240, 384]))
