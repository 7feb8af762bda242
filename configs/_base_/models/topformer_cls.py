# TopFormer-Tiny ImageNet classifier: TopFormer in 'global' mode (no SIM), global average pooling
# of the semantics, BatchNorm1d -> Linear head (the authors' checkpoint layout head.bn / head.l).
custom_imports = dict(imports=['mmhybrid.models'], allow_failed_imports=False)
model = dict(
    type='ImageClassifier',
    backbone=dict(type='mmhybrid.TopFormer', arch='tiny', mode='global', drop_path_rate=0.1),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='mmhybrid.TopFormerClsHead',
        num_classes=1000,
        in_channels=208,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)))
