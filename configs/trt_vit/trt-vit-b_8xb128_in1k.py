# TRT-ViT-B on ImageNet-1k; same recipe as TRT-ViT-A (paper re-implementation, no official weights).
_base_ = './trt-vit-a_8xb128_in1k.py'

model = dict(
    backbone=dict(arch='b', drop_path_rate=0.1),
    head=dict(in_channels=1280))
