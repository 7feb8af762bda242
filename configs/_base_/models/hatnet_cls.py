# HAT-Net-Tiny ImageNet classifier: global average pooling and a Linear head, with DeiT's label
# smoothing 0.1 and Mixup 0.8 / CutMix 1.0. The other HAT-Net sizes override backbone.arch and
# head.in_channels; the TransCNN configs inherit this base and only swap backbone.type to
# 'mmhybrid.TransCNN' (and head.in_channels), the two families share the constructor arguments.
custom_imports = dict(imports=['mmhybrid.models'], allow_failed_imports=False)
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='mmhybrid.HATNet', arch='tiny', out_indices=(3, ), drop_path_rate=0.1),
    neck=dict(type='GlobalAveragePooling'),
    # The authors' classifier: Dropout(0.2) + Linear (hard-coded in HAT_Net.py / TransCNN.py).
    head=dict(
        type='mmhybrid.DropoutLinearClsHead',
        dropout_rate=0.2,
        num_classes=1000,
        in_channels=384,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=dict(type='TruncNormal', layer='Linear', std=.02, bias=0.)),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]),
)
