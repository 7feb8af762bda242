# Semantic FPN (mmseg's fpn_r50 neck and head) on a HAT-Net-Tiny backbone with its four stages
# (strides 4-32). HAT-Net-Small configs override backbone.arch and neck.in_channels; the TransCNN
# configs inherit this base and swap backbone.type to 'mmhybrid.TransCNN' (and the neck widths).
_base_ = 'mmseg::_base_/models/fpn_r50.py'
custom_imports = dict(imports=['mmhybrid.models'], allow_failed_imports=False)
model = dict(
    pretrained=None,  # the base's ResNet checkpoint
    backbone=dict(_delete_=True, type='mmhybrid.HATNet', arch='tiny', drop_path_rate=0.1),
    neck=dict(in_channels=[48, 96, 240, 384]))
