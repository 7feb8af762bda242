# Semantic FPN (mmseg's fpn_r50 neck and head) on an EdgeViT-XXS backbone with its four stages
# (strides 4-32, SyncBN). The backbone pads internally, so whole-image testing at any aspect ratio
# needs no ResizeToMultiple. The XS / S configs override backbone.arch and neck.in_channels.
_base_ = 'mmseg::_base_/models/fpn_r50.py'
custom_imports = dict(imports=['mmhybrid.models'], allow_failed_imports=False)
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    pretrained=None,  # the base's ResNet checkpoint
    backbone=dict(
        _delete_=True,
        type='mmhybrid.EdgeViT',
        arch='xxs',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.1,
        norm_cfg=norm_cfg,
        # The authors released no weights: the backbone starts from the ImageNet run of
        # edgevit-xxs_8xb256_in1k.py (train it first; the XS / S configs name theirs).
        # Opt out with --cfg-options model.backbone.init_cfg=None.
        init_cfg=dict(type='Pretrained', prefix='backbone.',
                      checkpoint='work_dirs/edgevit-xxs_8xb256_in1k/epoch_300.pth'),
    ),
    neck=dict(in_channels=[36, 72, 144, 288]))
