# RetinaNet 1x with a TRT-ViT-C backbone; same recipe as retinanet_trt-vit-a_fpn_1x_coco.py
# (paper re-implementation, no official weights; see configs/trt_vit/README.md).
_base_ = './retinanet_trt-vit-a_fpn_1x_coco.py'

pretrained = 'work_dirs/trt-vit-c_8xb128_in1k/epoch_300.pth'
model = dict(
    backbone=dict(arch='c', drop_path_rate=0.2, init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=[256, 512, 1024, 1472]))
