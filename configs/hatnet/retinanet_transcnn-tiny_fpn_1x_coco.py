# RetinaNet 1x with a TransCNN-Tiny backbone, PVT detection recipe (AdamW lr 1e-4, wd 1e-4,
# 12 epochs, batch 16). Any input size works: the backbone pads to its attention windows.
# The HAT-Net model base (../_base_/models/hatnet_retinanet.py) with the TransCNN backbone type;
# schedule: ../_base_/schedules/pvt_adamw-1x.py.
_base_ = [
    '../_base_/models/hatnet_retinanet.py',
    'mmdet::_base_/datasets/coco_detection.py',
    '../_base_/schedules/pvt_adamw-1x.py',
    'mmdet::_base_/default_runtime.py',
]

# The authors' ImageNet weights converted with
# `python tools/model_converters/hatnet2mmhybrid.py TransCNN-Tiny.pth <this path>`.
checkpoint = 'checkpoints/transcnn-tiny_3rdparty_in1k.pth'  # noqa: E501
model = dict(
    backbone=dict(
        type='mmhybrid.TransCNN',
        # BatchNorm with a few images per GPU: keep the ImageNet statistics, as
        # mmdet does for pretrained ResNets (affine parameters still train).
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.')),
    neck=dict(in_channels=[64, 128, 256, 512]))
