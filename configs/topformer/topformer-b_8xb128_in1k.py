# TopFormer-Base ImageNet-1k classifier (released top-1 75.3); recipe of topformer-t_8xb128_in1k.py
# with SeaFormer_B's Mixup 0.2 (fudan-zvg/SeaFormer seaformer-cls/README.md).
_base_ = './topformer-t_8xb128_in1k.py'
model = dict(
    backbone=dict(arch='base'),
    head=dict(in_channels=384),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.2)]))
