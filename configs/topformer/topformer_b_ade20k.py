# TopFormer-Base, ADE20K 512x512, 160k, 8 x 2 images. Paper: 38.3 mIoU (39.2 with 8 x 4).
_base_ = './topformer_t_ade20k.py'
checkpoint = 'checkpoints/topformer-b_3rdparty_in1k.pth'
model = dict(
    backbone=dict(
        arch='base',
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.')),
    decode_head=dict(in_channels=[256, 256, 256], channels=256, depthwise_fuse=False))
optim_wrapper = dict(optimizer=dict(lr=0.00012))
