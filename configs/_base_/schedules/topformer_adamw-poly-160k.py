# TopFormer's segmentation recipe for 160k-iteration runs (the authors' ADE20K and Tiny Cityscapes
# configs): AdamW lr 3e-4 (the Small / Base ADE20K configs lower it to 1.2e-4), weight decay 0.01,
# head lr x10, mmcv 1.x 'poly' (power 1, min lr 0) with a 1500-iteration linear warm-up from 1e-6.
# The authors' extra 'norm' / 'absolute_pos_embed' decay_mult=0 keys match no TopFormer parameter
# (its norms are named 'bn'), so every parameter decays; they are left out. The warm-up factor
# multiplies the poly rate, which itself starts at iteration 0.
_base_ = 'mmseg::_base_/schedules/schedule_160k.py'
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=0.0003, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=10.)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=0, end=160000, by_epoch=False)
]
