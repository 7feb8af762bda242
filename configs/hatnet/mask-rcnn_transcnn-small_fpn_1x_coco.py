_base_ = './mask-rcnn_transcnn-tiny_fpn_1x_coco.py'

checkpoint = 'checkpoints/transcnn-small_3rdparty_in1k.pth'  # noqa: E501
model = dict(
    backbone=dict(
        arch='small', init_cfg=dict(type='Pretrained', checkpoint=checkpoint,
                                    prefix='backbone.')),
    neck=dict(in_channels=[64, 128, 256, 512]))
