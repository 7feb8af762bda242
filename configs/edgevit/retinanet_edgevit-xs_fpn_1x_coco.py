_base_ = './retinanet_edgevit-xxs_fpn_1x_coco.py'

model = dict(backbone=dict(arch='xs'), neck=dict(in_channels=[48, 96, 240, 384]))
