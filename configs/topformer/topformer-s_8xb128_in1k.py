# TopFormer-Small ImageNet-1k classifier (released top-1 72.3); recipe of topformer-t_8xb128_in1k.py
# with SeaFormer_S's settings (fudan-zvg/SeaFormer seaformer-cls/README.md): 40 warm-up epochs and
# Mixup 0.2.
_base_ = './topformer-t_8xb128_in1k.py'
model = dict(
    backbone=dict(arch='small'),
    head=dict(in_channels=296),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.2)]))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6 / 0.064, by_epoch=True, begin=0, end=40,
         convert_to_iter_based=True),
    dict(type='StepLR', by_epoch=True, begin=0, step_size=1, gamma=0.973**(1 / 2.4)),
]
