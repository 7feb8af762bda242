# TRT-ViT-C on ImageNet-1k; same recipe as TRT-ViT-A (paper re-implementation, no official weights).
_base_ = './trt-vit-a_8xb128_in1k.py'

model = dict(
    backbone=dict(arch='c', drop_path_rate=0.2),
    head=dict(in_channels=1472))
