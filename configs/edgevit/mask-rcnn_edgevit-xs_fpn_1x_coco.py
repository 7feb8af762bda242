_base_ = './mask-rcnn_edgevit-xxs_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        arch='xs',
        init_cfg=dict(checkpoint='work_dirs/edgevit-xs_8xb256_in1k/epoch_300.pth')),
    neck=dict(in_channels=[48, 96, 240, 384]))
