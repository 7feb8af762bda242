# RetinaNet 1x with a HAT-Net-Tiny backbone, PVT detection recipe (AdamW lr 1e-4, wd 1e-4,
# 12 epochs, batch 16). Any input size works: the backbone pads to its attention windows.
_base_ = [
    'mmdet::_base_/models/retinanet_r50_fpn.py',
    'mmdet::_base_/datasets/coco_detection.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmhybrid.models'], allow_failed_imports=False)

# The authors' ImageNet weights converted with
# `python tools/model_converters/hatnet2mmhybrid.py HAT-Net_Tiny.pth <this path>`.
checkpoint = 'checkpoints/hatnet-tiny_3rdparty_in1k.pth'  # noqa: E501
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmhybrid.HATNet',
        arch='tiny',
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.')),
    neck=dict(in_channels=[48, 96, 240, 384]))

optim_wrapper = dict(optimizer=dict(_delete_=True, type='AdamW', lr=1e-4, weight_decay=1e-4))
# `attn.proj_norm` exists only for checkpoint compatibility and gets no gradient.
find_unused_parameters = True
