# TopFormer-Tiny ImageNet-1k classifier, 224x224, 8 GPUs x 128 images, 600 epochs. The authors
# released weights but no training code; their recipe (hustvl/TopFormer#22, #32: the timm
# MobileNetV3 recipe of SeaFormer) is RMSprop(TF) lr 0.064, eps 1e-3, wd 2e-5, decay x0.973 every
# 2.4 epochs, warm-up from 1e-6, dropout 0.2, drop path, EMA 0.9999, RandAugment m9-mstd0.5,
# random erasing 0.2. Released top-1: 66.2 (T), 72.3 (S), 75.3 (B).
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
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandAugment',
        policies='timm_increasing',
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

# torch RMSprop adds eps outside the square root, TF inside: eps 0.0316 ~ sqrt(1e-3).
optim_wrapper = dict(
    optimizer=dict(
        type='RMSprop', lr=0.064, alpha=0.9, momentum=0.9, eps=0.0316, weight_decay=2e-5))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6 / 0.064, by_epoch=True, begin=0, end=3,
         convert_to_iter_based=True),
    # x0.973 every 2.4 epochs, applied per epoch
    dict(type='StepLR', by_epoch=True, begin=3, step_size=1, gamma=0.973**(1 / 2.4)),
]
train_cfg = dict(by_epoch=True, max_epochs=600, val_interval=1)
val_cfg = dict()
test_cfg = dict()
custom_hooks = [dict(type='EMAHook', momentum=1e-4, priority='ABOVE_NORMAL')]
auto_scale_lr = dict(base_batch_size=1024)
