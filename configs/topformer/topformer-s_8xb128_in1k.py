# TopFormer-Small ImageNet-1k classifier (released top-1 72.3); recipe of
# topformer-t_8xb128_in1k.py.
_base_ = './topformer-t_8xb128_in1k.py'
model = dict(backbone=dict(arch='small'), head=dict(in_channels=296))
