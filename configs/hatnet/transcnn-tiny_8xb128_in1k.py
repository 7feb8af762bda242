# TransCNN-Tiny on ImageNet-1k at 256x256 (the resolution of the authors' TransCNN release),
# same PVT/DeiT recipe and classifier as hatnet-tiny_8xb128_in1k.py: the HAT-Net model base with
# the TransCNN backbone type (no unused parameters, so no find_unused_parameters).
_base_ = [
    '../_base_/models/hatnet_cls.py',
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_256.py',
    '../_base_/schedules/imagenet_bs1024_adamw_deit.py',
    'mmpretrain::_base_/default_runtime.py',
]

model = dict(backbone=dict(type='mmhybrid.TransCNN'), head=dict(in_channels=512))

# PVT's main.py trains with repeated augmentation by default (RASampler).
train_dataloader = dict(batch_size=128, sampler=dict(type='RepeatAugSampler', shuffle=True))
val_dataloader = dict(batch_size=128)
test_dataloader = val_dataloader
