# RetinaNet (mmdet's retinanet_r50_fpn: FPN on strides 8-32 plus two extra levels) on a
# HAT-Net-Tiny backbone with its four stages. Any input size works: the backbone pads to its
# attention windows.
# HAT-Net-Small configs override backbone.arch and neck.in_channels; the TransCNN configs
# inherit this base and swap backbone.type to 'mmhybrid.TransCNN' (and the neck widths).
_base_ = 'mmdet::_base_/models/retinanet_r50_fpn.py'
custom_imports = dict(imports=['mmhybrid.models'], allow_failed_imports=False)
model = dict(
    backbone=dict(_delete_=True, type='mmhybrid.HATNet', arch='tiny', drop_path_rate=0.1),
    neck=dict(in_channels=[48, 96, 240, 384]))
