# EdgeViT-XXS ImageNet classifier: global average pooling and a Linear head, with DeiT's label
# smoothing 0.1 and Mixup 0.8 / CutMix 1.0. The XS / S configs override backbone.arch and
# head.in_channels.
custom_imports = dict(imports=['mmhybrid.models'], allow_failed_imports=False)
model = dict(
    type='ImageClassifier',
    # final_norm: the authors' BatchNorm after the last stage, before global average pooling.
    backbone=dict(
        type='mmhybrid.EdgeViT', arch='xxs', out_indices=(3, ), final_norm=True,
        drop_path_rate=0.1),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=288,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=dict(type='TruncNormal', layer='Linear', std=.02, bias=0.)),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]),
)
