# TopFormer-Small, ADE20K 512x512, 160k, 8 x 2 images. Paper: 36.5 mIoU (37.0 with 8 x 4).
_base_ = './topformer_t_ade20k.py'
checkpoint = 'checkpoints/topformer-s_3rdparty_in1k.pth'
model = dict(
    backbone=dict(
        arch='small',
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.')),
    decode_head=dict(in_channels=[192, 192, 192], channels=192, depthwise_fuse=False))
optim_wrapper = dict(optimizer=dict(lr=0.00012))
