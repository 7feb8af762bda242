# HAT-Net-Tiny on ImageNet-1k at 224x224 with the PVT/DeiT recipe the authors follow:
# AdamW lr 5e-4 x 1024/512, wd 0.05, 300 epochs cosine, 5 warm-up epochs, RandAugment,
# Mixup 0.8 / CutMix 1.0, label smoothing 0.1, random erasing 0.25, drop path 0.1.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmhybrid.models'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='mmhybrid.HATNet', arch='tiny', out_indices=(3, ), drop_path_rate=0.1),
    neck=dict(type='GlobalAveragePooling'),
    # The authors' classifier is Dropout(0.2) + Linear; mmpretrain's LinearClsHead has no
    # dropout (weights are identical, only the training regularisation differs).
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=384,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=dict(type='TruncNormal', layer='Linear', std=.02, bias=0.)),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]),
)

train_dataloader = dict(batch_size=128)
val_dataloader = dict(batch_size=128)
test_dataloader = val_dataloader

# DeiT/PVT schedule: 5 linear warm-up epochs from 1e-6, then cosine down to 1e-5.
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end=5, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=5, end=300),
]
optim_wrapper = dict(clip_grad=None)

# HAT-Net keeps the authors' unused `attn.proj_norm` so checkpoints load strictly; it gets no
# gradient, which DDP must be told about.
find_unused_parameters = True
