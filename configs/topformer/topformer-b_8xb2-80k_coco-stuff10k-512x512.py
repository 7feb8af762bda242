# TopFormer-Base version of topformer-t_8xb2-80k_coco-stuff10k-512x512.py (same recipe).
_base_ = './topformer-t_8xb2-80k_coco-stuff10k-512x512.py'
checkpoint = 'checkpoints/topformer-b_3rdparty_in1k.pth'
model = dict(
    backbone=dict(
        arch='base',
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.')),
    decode_head=dict(in_channels=[256, 256, 256], channels=256, depthwise_fuse=False))
