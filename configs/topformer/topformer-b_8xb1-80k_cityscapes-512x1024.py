# TopFormer-Base, Cityscapes 512x1024 crops, 80k iterations, 8 GPUs x 1 image: the authors'
# topformer_base_1024x512_80k_2x8city.py (hustvl/TopFormer local_configs/topformer; paper: 70.7 mIoU
# on val, quoted in hustvl/TopFormer#39). As there, the SIM and head are 128 channels wide (not
# the 256 of the ADE20K Base) and training rescales to the (512, 512) scale x 0.5-2.0 (the Tiny
# config uses (1024, 512); the authors' Base value is kept, testing is at (1024, 512) in both).
_base_ = './topformer-t_8xb1-160k_cityscapes-512x1024.py'
checkpoint = 'checkpoints/topformer-b_3rdparty_in1k.pth'
model = dict(
    backbone=dict(
        arch='base',
        injection_channels=128,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.')))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(512, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=(512, 1024), cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
train_cfg = dict(max_iters=80000)
default_hooks = dict(checkpoint=dict(interval=8000))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=0, end=80000, by_epoch=False)
]
