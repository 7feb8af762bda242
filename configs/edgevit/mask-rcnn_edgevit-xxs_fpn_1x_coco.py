# Mask R-CNN 1x with an EdgeViT-XXS backbone, PVT-style as in the paper: FPN, AdamW lr 1e-4,
# wd 1e-4, 12 epochs, 8 GPUs x 2 images. The authors released neither weights nor detection code.
# See the backbone's init_cfg comment in ../_base_/models/edgevit_mask-rcnn.py for ImageNet
# initialisation; schedule: ../_base_/schedules/pvt_adamw-1x.py.
_base_ = [
    '../_base_/models/edgevit_mask-rcnn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    '../_base_/schedules/pvt_adamw-1x.py',
    'mmdet::_base_/default_runtime.py',
]
