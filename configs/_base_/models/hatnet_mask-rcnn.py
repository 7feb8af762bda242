# Mask R-CNN (mmdet's mask-rcnn_r50_fpn: FPN, RPN, box and mask heads) on a HAT-Net-Tiny backbone
# with its four stages (strides 4-32). Set `with_cp=True` on the backbone to trade compute for
# memory.
# HAT-Net-Small configs override backbone.arch and neck.in_channels; the TransCNN configs
# inherit this base and swap backbone.type to 'mmhybrid.TransCNN' (and the neck widths).
_base_ = 'mmdet::_base_/models/mask-rcnn_r50_fpn.py'
custom_imports = dict(imports=['mmhybrid.models'], allow_failed_imports=False)
model = dict(
    backbone=dict(_delete_=True, type='mmhybrid.HATNet', arch='tiny', drop_path_rate=0.1),
    neck=dict(in_channels=[48, 96, 240, 384]))
