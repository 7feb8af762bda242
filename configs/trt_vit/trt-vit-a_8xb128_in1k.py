# TRT-ViT-A on ImageNet-1k with the Swin Transformer recipe the paper follows: AdamW, 300 epochs,
# batch 1024 (8 GPUs x 128), RandAugment, Mixup 0.8 / CutMix 1.0, label smoothing 0.1, gradient
# clipping at max-norm 1.0. TRT-ViT is re-implemented from the paper's description; no official
# code or weights exist (see configs/trt_vit/README.md).
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]
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

train_dataloader = dict(batch_size=128)
val_dataloader = dict(batch_size=128)
test_dataloader = val_dataloader

optim_wrapper = dict(clip_grad=dict(max_norm=1.0))
