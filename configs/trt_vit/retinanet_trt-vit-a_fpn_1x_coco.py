# RetinaNet 1x with a TRT-ViT-A backbone. The paper gives no detection recipe; this follows the
# PVT RetinaNet 1x recipe (AdamW, lr 1e-4, weight decay 1e-4). TRT-ViT is re-implemented from the
# paper's description and has no official weights: train the ImageNet config first, the backbone
# loads that run's last checkpoint (override with
# --cfg-options model.backbone.init_cfg.checkpoint=/path/to/your.pth).
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmhybrid.models'], allow_failed_imports=False)

pretrained = 'work_dirs/trt-vit-a_8xb128_in1k/epoch_300.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmhybrid.TRTViT',
        arch='a',
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_eval=True,
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(in_channels=[256, 512, 1024, 1024]))

optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=0.0001, weight_decay=0.0001),
    paramwise_cfg=dict(norm_decay_mult=0.))
