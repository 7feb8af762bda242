# TopFormer-Tiny ImageNet-1k classifier, 224x224, 8 GPUs x 128 images, 600 epochs. The authors
# released weights but no training code. Their recipe: 600 epochs, 8 x 128, RMSprop, lr 0.064
# (hustvl/TopFormer#22); the released checkpoints' args: drop 0.2, drop_path 0.1, reprob 0.2
# (#20); for the rest the maintainers point to SeaFormer's ImageNet commands (#32,
# fudan-zvg/SeaFormer seaformer-cls/README.md, SeaFormer_T for Tiny): timm's RMSpropTF (eps
# 1e-3, alpha 0.9, momentum 0.9), wd 2e-5 (not on biases / 1-D parameters), x0.973 every 2.4
# epochs, 10 warm-up epochs from 1e-6, EMA 0.9999, RandAugment rand-m9-mstd0.5 (not the
# increasing variant), random erasing 0.2, no Mixup for Tiny, label smoothing 0.1.
# Released top-1: 66.2 (T), 72.3 (S), 75.3 (B). Differences: docs/en/recipes.md.
_base_ = [
    '../_base_/models/topformer_cls.py', 'mmpretrain::_base_/datasets/imagenet_bs128_mbv3.py',
    'mmpretrain::_base_/default_runtime.py'
]
model = dict(
    head=dict(
        dropout_rate=0.2,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original')))

bgr_mean = [103.53, 116.28, 123.675]
bgr_std = [57.375, 57.12, 58.395]
# timm's 'rand' policy (_RAND_TRANSFORMS, `rand-m9-mstd0.5` without `inc1`): Posterize and
# Solarize get weaker as the level grows and the enhance ops map the level to a factor in
# [0.1, 1.9] without a random sign; mmpretrain only presets the increasing variant.
timm_rand_policies = [
    dict(type='AutoContrast'),
    dict(type='Equalize'),
    dict(type='Invert'),
    dict(type='Rotate', magnitude_range=(0, 30)),
    dict(type='Posterize', magnitude_range=(0, 4)),
    dict(type='Solarize', magnitude_range=(0, 256)),
    dict(type='SolarizeAdd', magnitude_range=(0, 110)),
    dict(type='ColorTransform', magnitude_range=(-0.9, 0.9), random_negative_prob=0.),
    dict(type='Contrast', magnitude_range=(-0.9, 0.9), random_negative_prob=0.),
    dict(type='Brightness', magnitude_range=(-0.9, 0.9), random_negative_prob=0.),
    dict(type='Sharpness', magnitude_range=(-0.9, 0.9), random_negative_prob=0.),
    dict(type='Shear', magnitude_range=(0, 0.3), direction='horizontal'),
    dict(type='Shear', magnitude_range=(0, 0.3), direction='vertical'),
    dict(type='Translate', magnitude_range=(0, 0.45), direction='horizontal'),
    dict(type='Translate', magnitude_range=(0, 0.45), direction='vertical'),
]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandAugment',
        policies=timm_rand_policies,
        num_policies=2,
        total_level=10,
        magnitude_level=9,
        magnitude_std=0.5,
        hparams=dict(pad_val=[round(x) for x in bgr_mean])),
    dict(
        type='RandomErasing',
        erase_prob=0.2,
        mode='rand',
        min_area_ratio=0.02,
        max_area_ratio=1 / 3,
        fill_color=bgr_mean,
        fill_std=bgr_std),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

# timm's TF-style RMSprop (eps inside the square root, squares initialised to 1), found by
# MMEngine's optimizer registry through its import path; timm exempts biases and 1-D parameters
# from weight decay.
optim_wrapper = dict(
    optimizer=dict(
        type='timm.optim.RMSpropTF', lr=0.064, alpha=0.9, momentum=0.9, eps=1e-3,
        weight_decay=2e-5),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0., flat_decay_mult=0.))
# timm's step decay counts from epoch 0 (its warm-up only replaces the first epochs), so both
# start at 0 here; x0.973 every 2.4 epochs is applied smoothly as x0.973^(1/2.4) per epoch.
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6 / 0.064, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='StepLR', by_epoch=True, begin=0, step_size=1, gamma=0.973**(1 / 2.4)),
]
train_cfg = dict(by_epoch=True, max_epochs=600, val_interval=1)
val_cfg = dict()
test_cfg = dict()
custom_hooks = [dict(type='EMAHook', momentum=1e-4, priority='ABOVE_NORMAL')]
auto_scale_lr = dict(base_batch_size=1024)
