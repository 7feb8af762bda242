# PVT's Semantic FPN recipe on ADE20K, which the EdgeViT, HAT-Net / TransCNN and TRT-ViT FPN
# configs follow: 80k iterations (mmseg's schedule_80k: validation and checkpoint every 8k), AdamW
# lr 1e-4, weight decay 1e-4, poly decay (power 0.9) to 0, no warm-up, no gradient clipping.
_base_ = 'mmseg::_base_/schedules/schedule_80k.py'
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, weight_decay=1e-4),
    clip_grad=None)
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=80000, by_epoch=False)
]
