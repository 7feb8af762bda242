# Mask R-CNN (mmdet's mask-rcnn_r50_fpn: FPN, RPN, box and mask heads) on an EdgeViT-XXS backbone
# with its four stages (strides 4-32), BatchNorm statistics frozen (norm_eval).
# The XS / S configs override backbone.arch and neck.in_channels.
_base_ = 'mmdet::_base_/models/mask-rcnn_r50_fpn.py'
custom_imports = dict(imports=['mmhybrid.models'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmhybrid.EdgeViT',
        arch='xxs',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.1,
        # BatchNorm (LocalAgg) at 2 images per GPU: keep the ImageNet statistics, as
        # mmdet does for BN backbones (the affine parameters still train).
        norm_eval=True,
        # The authors released no weights: the backbone starts from the ImageNet run of
        # edgevit-xxs_8xb256_in1k.py (train it first; the XS / S configs name theirs).
        # Opt out with --cfg-options model.backbone.init_cfg=None.
        init_cfg=dict(type='Pretrained', prefix='backbone.',
                      checkpoint='work_dirs/edgevit-xxs_8xb256_in1k/epoch_300.pth'),
    ),
    neck=dict(in_channels=[36, 72, 144, 288]))
