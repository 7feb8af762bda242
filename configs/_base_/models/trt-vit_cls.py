# TRT-ViT-A ImageNet classifier: global average pooling and a Linear head, with label smoothing 0.1
# and Mixup 0.8 / CutMix 1.0 (the Swin recipe). The B / C / D configs override backbone.arch,
# backbone.drop_path_rate and head.in_channels.
custom_imports = dict(imports=['mmhybrid.models'], allow_failed_imports=False)
model = dict(
    type='ImageClassifier',
    backbone=dict(type='mmhybrid.TRTViT', arch='a', out_indices=(3, ), drop_path_rate=0.1),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=1024,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        cal_acc=False),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]),
)
