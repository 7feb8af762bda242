# Mask R-CNN 1x with a HAT-Net-Tiny backbone, PVT detection recipe (AdamW lr 2e-4 as in PVT's
# released mask_rcnn_pvt_*_fpn_1x_coco.py, wd 1e-4, 12 epochs, batch 16). Set `with_cp=True` on
# the backbone to trade compute for memory.
# Model: ../_base_/models/hatnet_mask-rcnn.py; schedule: ../_base_/schedules/pvt_adamw-1x.py.
_base_ = [
    '../_base_/models/hatnet_mask-rcnn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    '../_base_/schedules/pvt_adamw-1x.py',
    'mmdet::_base_/default_runtime.py',
]

# The authors' ImageNet weights converted with tools/model_converters/hatnet2mmhybrid.py.
checkpoint = 'checkpoints/hatnet-tiny_3rdparty_in1k.pth'  # noqa: E501
model = dict(
    backbone=dict(
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.')))

# `attn.proj_norm` exists only for checkpoint compatibility and gets no gradient.
find_unused_parameters = True

# PVT's released Mask R-CNN configs use lr 2e-4 (their RetinaNet ones 1e-4).
optim_wrapper = dict(optimizer=dict(lr=2e-4))
