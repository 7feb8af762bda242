# EdgeViT-XXS on ImageNet-1k, the authors' DeiT-style recipe (saic-fi/edgevit, src/main.py
# defaults + README command): 8 GPUs x 256, AdamW lr 5e-4 x 2048 / 512, wd 0.05 (not on 1-D
# parameters), 300 epochs cosine after 5 linear warm-up epochs from 1e-6, min lr 1e-5,
# repeated augmentation, RandAugment m9-mstd0.5 (increasing), random erasing 0.25,
# Mixup 0.8 / CutMix 1.0, label smoothing 0.1, drop path 0.1; eval: resize 256 + centre crop 224.
# Model: ../_base_/models/edgevit_cls.py; schedule: the DeiT one shared with HAT-Net / TransCNN,
# at this config's larger batch (learning rate, warm-up start and weight-decay exemptions below).
_base_ = [
    '../_base_/models/edgevit_cls.py',
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    '../_base_/schedules/imagenet_bs1024_adamw_deit.py',
    'mmpretrain::_base_/default_runtime.py',
]

train_dataloader = dict(batch_size=256, sampler=dict(type='RepeatAugSampler', shuffle=True))

optim_wrapper = dict(
    optimizer=dict(lr=5e-4 * 2048 / 512),
    # timm exempts biases and all 1-D parameters (norms) from weight decay.
    paramwise_cfg=dict(
        _delete_=True, norm_decay_mult=0., bias_decay_mult=0., flat_decay_mult=0.))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6 / 2e-3, by_epoch=True, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=5, end=300),
]

# No EMAHook: the authors keep an EMA copy (decay 0.99996) but evaluate and report the raw model
# (src/main.py: evaluate(data_loader_val, model, device)); MMEngine's EMAHook would evaluate and
# save the EMA weights instead, and the downstream configs would start from those.

# base_batch_size = (8 GPUs) x (256 samples per GPU)
auto_scale_lr = dict(base_batch_size=2048)
