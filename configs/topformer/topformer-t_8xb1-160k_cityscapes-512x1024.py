# TopFormer-Tiny, Cityscapes, 512x1024 crops of half-resolution (1024x512) images, 8 GPUs x 1
# image (the authors' topformer_tiny_1024x512_80k_2x8_city.py, which despite its name inherits a
# 160k schedule).
_base_ = [
    '../_base_/models/topformer.py', 'mmseg::_base_/datasets/cityscapes.py',
    'mmseg::_base_/default_runtime.py', '../_base_/schedules/topformer_adamw-poly-160k.py'
]
crop_size = (512, 1024)
checkpoint = 'checkpoints/topformer-t_3rdparty_in1k.pth'
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.')),
    # the authors' Tiny Cityscapes config, unlike their ADE20K one, uses a dense fuse conv
    decode_head=dict(num_classes=19, depthwise_fuse=False))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(1024, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1024, 512), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(batch_size=1, num_workers=2, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=1, num_workers=2, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
train_cfg = dict(val_interval=4000)
auto_scale_lr = dict(enable=False, base_batch_size=8)
# AdamW lr 3e-4, head lr x10, poly (power 1) with a 1500-iteration warm-up, as in the authors'
# configs: ../_base_/schedules/topformer_adamw-poly-160k.py.
