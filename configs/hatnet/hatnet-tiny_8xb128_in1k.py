# HAT-Net-Tiny on ImageNet-1k at 224x224 with the PVT/DeiT recipe the authors follow:
# AdamW lr 5e-4 x 1024/512, wd 0.05, 300 epochs cosine, 5 warm-up epochs, RandAugment,
# Mixup 0.8 / CutMix 1.0, label smoothing 0.1, random erasing 0.25, drop path 0.1.
# Model: ../_base_/models/hatnet_cls.py; schedule: ../_base_/schedules/imagenet_bs1024_adamw_deit.py
# (shared with TransCNN and EdgeViT).
_base_ = [
    '../_base_/models/hatnet_cls.py',
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    '../_base_/schedules/imagenet_bs1024_adamw_deit.py',
    'mmpretrain::_base_/default_runtime.py',
]

# PVT's main.py trains with repeated augmentation by default (RASampler).
train_dataloader = dict(batch_size=128, sampler=dict(type='RepeatAugSampler', shuffle=True))
val_dataloader = dict(batch_size=128)
test_dataloader = val_dataloader

# HAT-Net keeps the authors' unused `attn.proj_norm` so checkpoints load strictly; it gets no
# gradient, which DDP must be told about.
find_unused_parameters = True
