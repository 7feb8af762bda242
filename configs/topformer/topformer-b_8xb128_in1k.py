# TopFormer-Base ImageNet-1k classifier (released top-1 75.3); recipe of topformer-t_8xb128_in1k.py.
_base_ = './topformer-t_8xb128_in1k.py'
model = dict(backbone=dict(arch='base'), head=dict(in_channels=384))
