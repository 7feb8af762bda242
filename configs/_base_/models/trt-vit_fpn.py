# Semantic FPN (mmseg's fpn_r50 neck and head) on a TRT-ViT-A backbone with its four stages
# (strides 4-32, SyncBN). The B / C / D configs override backbone.arch, backbone.drop_path_rate
# and neck.in_channels.
_base_ = 'mmseg::_base_/models/fpn_r50.py'
custom_imports = dict(imports=['mmhybrid.models'], allow_failed_imports=False)
model = dict(
    pretrained=None,  # the base's ResNet checkpoint
    backbone=dict(
        _delete_=True,
        type='mmhybrid.TRTViT',
        arch='a',
        out_indices=(0, 1, 2, 3),
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        drop_path_rate=0.1),
    neck=dict(in_channels=[256, 512, 1024, 1024]))
