# TopFormer's segmentation recipe for 80k-iteration runs (the authors' Pascal Context and
# COCO-Stuff configs): AdamW lr 1.2e-4, weight decay 0.01, head lr x10, poly (power 1, from
# iteration 0) with a 1500-iteration linear warm-up from 1e-6. See topformer_adamw-poly-160k.py.
_base_ = 'mmseg::_base_/schedules/schedule_80k.py'
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=0.00012, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=10.)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=0, end=80000, by_epoch=False)
]
