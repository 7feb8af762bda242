# TRT-ViT-A on ImageNet-1k with the Swin Transformer recipe the paper follows: AdamW, 300 epochs,
# batch 1024 (8 GPUs x 128), RandAugment, Mixup 0.8 / CutMix 1.0, label smoothing 0.1, gradient
# clipping at max-norm 1.0. TRT-ViT is re-implemented from the paper's description; no official
# code or weights exist (see configs/trt_vit/README.md). Model: ../_base_/models/trt-vit_cls.py;
# schedule: mmpretrain's Swin one (20 warm-up epochs), unlike the DeiT one of the other families.
_base_ = [
    '../_base_/models/trt-vit_cls.py',
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]

train_dataloader = dict(batch_size=128)
val_dataloader = dict(batch_size=128)
test_dataloader = val_dataloader

optim_wrapper = dict(clip_grad=dict(max_norm=1.0))
