# Mask R-CNN 1x with a TransCNN-Tiny backbone, PVT detection recipe (AdamW lr 1e-4, wd 1e-4,
# 12 epochs, batch 16). Set `with_cp=True` on the backbone to trade compute for memory.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmhybrid.models'], allow_failed_imports=False)

# The authors' ImageNet weights converted with tools/model_converters/hatnet2mmhybrid.py.
checkpoint = 'checkpoints/transcnn-tiny_3rdparty_in1k.pth'  # noqa: E501
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmhybrid.TransCNN',
        arch='tiny',
        drop_path_rate=0.1,
        # BatchNorm with a few images per GPU: keep the ImageNet statistics, as
        # mmdet does for pretrained ResNets (affine parameters still train).
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.')),
    neck=dict(in_channels=[64, 128, 256, 512]))

optim_wrapper = dict(optimizer=dict(_delete_=True, type='AdamW', lr=1e-4, weight_decay=1e-4))
