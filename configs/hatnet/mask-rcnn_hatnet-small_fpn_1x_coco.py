_base_ = './mask-rcnn_hatnet-tiny_fpn_1x_coco.py'

checkpoint = 'checkpoints/hatnet-small_3rdparty_in1k.pth'  # noqa: E501
model = dict(
    backbone=dict(
        arch='small', init_cfg=dict(type='Pretrained', checkpoint=checkpoint,
                                    prefix='backbone.')),
    neck=dict(in_channels=[64, 128, 320, 512]))
