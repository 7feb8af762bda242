# Mask R-CNN 1x with a TRT-ViT-A backbone. The paper reports TRT-ViT-C + Mask R-CNN 1x (AP^b 44.7,
# AP^m 40.8) without a recipe; this uses the Swin Mask R-CNN 1x recipe (AdamW, lr 1e-4,
# weight decay 0.05, no decay on norms). TRT-ViT is re-implemented from the paper's description and
# has no official weights: train the ImageNet config first, the backbone loads that run's last
# checkpoint (override with --cfg-options model.backbone.init_cfg.checkpoint=/path/to/your.pth).
# Model: ../_base_/models/trt-vit_mask-rcnn.py.
_base_ = [
    '../_base_/models/trt-vit_mask-rcnn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
]

pretrained = 'work_dirs/trt-vit-a_8xb128_in1k/epoch_300.pth'
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')))

param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', begin=0, end=12, by_epoch=True, milestones=[8, 11], gamma=0.1)
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        _delete_=True, type='AdamW', lr=0.0001, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.))
