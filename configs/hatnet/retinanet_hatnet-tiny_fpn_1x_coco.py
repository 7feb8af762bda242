# RetinaNet 1x with a HAT-Net-Tiny backbone, PVT detection recipe (AdamW lr 1e-4, wd 1e-4,
# 12 epochs, batch 16). Any input size works: the backbone pads to its attention windows.
# Model: ../_base_/models/hatnet_retinanet.py; schedule: ../_base_/schedules/pvt_adamw-1x.py.
_base_ = [
    '../_base_/models/hatnet_retinanet.py',
    'mmdet::_base_/datasets/coco_detection.py',
    '../_base_/schedules/pvt_adamw-1x.py',
    'mmdet::_base_/default_runtime.py',
]

# The authors' ImageNet weights converted with
# `python tools/model_converters/hatnet2mmhybrid.py HAT-Net_Tiny.pth <this path>`.
checkpoint = 'checkpoints/hatnet-tiny_3rdparty_in1k.pth'  # noqa: E501
model = dict(
    backbone=dict(
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.')))

# `attn.proj_norm` exists only for checkpoint compatibility and gets no gradient.
find_unused_parameters = True
