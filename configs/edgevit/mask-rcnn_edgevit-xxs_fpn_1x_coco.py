# Mask R-CNN 1x with an EdgeViT-XXS backbone, PVT-style as in the paper (the authors released
# neither weights nor detection code): PVT's Mask R-CNN recipe (whai362/PVT v1
# detection/configs/mask_rcnn_pvt_t_fpn_1x_coco.py): FPN, AdamW lr 2e-4 (the PVT paper text says
# 1e-4; the released config, followed here, 2e-4), wd 1e-4, 12 epochs, 8 GPUs x 2 images. The
# backbone loads the ImageNet run of edgevit-xxs_8xb256_in1k.py (model base:
# ../_base_/models/edgevit_mask-rcnn.py); schedule: ../_base_/schedules/pvt_adamw-1x.py.
# Recipe table: docs/en/recipes.md.
_base_ = [
    '../_base_/models/edgevit_mask-rcnn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    '../_base_/schedules/pvt_adamw-1x.py',
    'mmdet::_base_/default_runtime.py',
]

optim_wrapper = dict(optimizer=dict(lr=2e-4))
