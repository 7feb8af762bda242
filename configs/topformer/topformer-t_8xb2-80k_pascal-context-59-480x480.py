# TopFormer-Tiny, Pascal Context (59 classes), 480x480, 80k iterations, 8 GPUs x 2 images (the
# authors' topformer_t_480x480_80k_2x8_pascalcontext_59.py).
_base_ = [
    '../_base_/models/topformer.py', 'mmseg::_base_/datasets/pascal_context_59.py',
    'mmseg::_base_/default_runtime.py', 'mmseg::_base_/schedules/schedule_80k.py'
]
crop_size = (480, 480)
checkpoint = 'checkpoints/topformer-t_3rdparty_in1k.pth'
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.')),
    decode_head=dict(num_classes=59))
train_dataloader = dict(batch_size=2, num_workers=2)
val_dataloader = dict(batch_size=1, num_workers=2)
test_dataloader = val_dataloader
auto_scale_lr = dict(enable=False, base_batch_size=16)
# AdamW, head lr x10, poly (power 1) with a 1500-iteration warm-up, as in the authors' configs
# (see topformer_t_ade20k.py for the details).
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=0.00012, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=10.)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=0, end=80000, by_epoch=False)
]
