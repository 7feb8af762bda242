# The DeiT / PVT ImageNet-1k schedule that HAT-Net, TransCNN and EdgeViT follow: mmpretrain's Swin
# AdamW schedule (lr 5e-4 x 1024 / 512, wd 0.05 not on norms and biases, 300 epochs, batch 1024),
# but 5 linear warm-up epochs from 1e-6 instead of 20, cosine down to 1e-5 and no gradient
# clipping. TRT-ViT keeps the Swin schedule itself (mmpretrain::_base_/schedules/...swin.py).
_base_ = 'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py'
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end=5, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=5, end=300),
]
optim_wrapper = dict(clip_grad=None)
