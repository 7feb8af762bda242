# TopFormer-Base, Cityscapes 512x1024 crops, 80k iterations, 8 GPUs x 1 image (the authors'
# topformer_base_1024x512_80k_2x8city.py; paper: 70.7 mIoU on val, quoted in hustvl/TopFormer#39).
# Deviation: the authors' Base config resizes training images to (512, 512) while testing at
# (1024, 512), which looks like a slip (their Tiny config uses (1024, 512)); both use (1024, 512).
_base_ = './topformer-t_8xb1-160k_cityscapes-512x1024.py'
checkpoint = 'checkpoints/topformer-b_3rdparty_in1k.pth'
model = dict(
    backbone=dict(
        arch='base',
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.')),
    decode_head=dict(in_channels=[256, 256, 256], channels=256, depthwise_fuse=False))
train_cfg = dict(max_iters=80000)
default_hooks = dict(checkpoint=dict(interval=8000))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=0, end=80000, by_epoch=False)
]
