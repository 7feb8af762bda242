# Mask R-CNN (mmdet's mask-rcnn_r50_fpn: FPN, RPN, box and mask heads) on a TRT-ViT-A
# backbone with its four stages; the stem and first stage frozen and BatchNorm in eval mode, as
# mmdet does for ImageNet-initialised ResNets. The B / C / D configs override backbone.arch,
# backbone.drop_path_rate and neck.in_channels.
_base_ = 'mmdet::_base_/models/mask-rcnn_r50_fpn.py'
custom_imports = dict(imports=['mmhybrid.models'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmhybrid.TRTViT',
        arch='a',
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_eval=True,
        drop_path_rate=0.1),
    neck=dict(in_channels=[256, 512, 1024, 1024]))
