# TopFormer-Small version of topformer-t_8xb2-80k_coco-stuff10k-512x512.py (same recipe).
_base_ = './topformer-t_8xb2-80k_coco-stuff10k-512x512.py'
checkpoint = 'checkpoints/topformer-s_3rdparty_in1k.pth'
model = dict(
    backbone=dict(
        arch='small',
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.')),
    decode_head=dict(in_channels=[192, 192, 192], channels=192, depthwise_fuse=False))
