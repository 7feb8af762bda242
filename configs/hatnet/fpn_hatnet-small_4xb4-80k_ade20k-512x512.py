_base_ = './fpn_hatnet-tiny_4xb4-80k_ade20k-512x512.py'

checkpoint = 'checkpoints/hatnet-small_3rdparty_in1k.pth'  # noqa: E501
model = dict(
    backbone=dict(
        arch='small', init_cfg=dict(type='Pretrained', checkpoint=checkpoint,
                                    prefix='backbone.')),
    neck=dict(in_channels=[64, 128, 320, 512]))
