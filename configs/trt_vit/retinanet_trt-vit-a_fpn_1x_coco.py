# RetinaNet 1x with a TRT-ViT-A backbone. The paper gives no detection recipe; this follows the
# PVT RetinaNet 1x recipe (AdamW, lr 1e-4, weight decay 1e-4), here without weight decay on norms.
# TRT-ViT is re-implemented from the paper's description and has no official weights: train the
# ImageNet config first, the backbone loads that run's last checkpoint (override with
# --cfg-options model.backbone.init_cfg.checkpoint=/path/to/your.pth).
# Model: ../_base_/models/trt-vit_retinanet.py; schedule: ../_base_/schedules/pvt_adamw-1x.py;
# test-time augmentation settings from mmdet's RetinaNet configs.
_base_ = [
    '../_base_/models/trt-vit_retinanet.py',
    'mmdet::_base_/datasets/coco_detection.py',
    '../_base_/schedules/pvt_adamw-1x.py',
    'mmdet::_base_/default_runtime.py',
    'mmdet::retinanet/retinanet_tta.py',
]

pretrained = 'work_dirs/trt-vit-a_8xb128_in1k/epoch_300.pth'
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')))

optim_wrapper = dict(paramwise_cfg=dict(norm_decay_mult=0.))
