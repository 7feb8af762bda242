# RetinaNet 1x with an EdgeViT-XXS backbone, PVT-style as in the paper (the authors released
# neither weights nor detection code): PVT's RetinaNet recipe (whai362/PVT v1
# detection/configs/retinanet_pvt_t_fpn_1x_coco.py): FPN on strides 8-32 plus two extra levels
# from the input, AdamW lr 1e-4, wd 1e-4, 12 epochs, 8 GPUs x 2 images. The backbone loads the
# ImageNet run of edgevit-xxs_8xb256_in1k.py (model base: ../_base_/models/edgevit_retinanet.py).
# Schedule: ../_base_/schedules/pvt_adamw-1x.py; test-time augmentation settings from mmdet's
# RetinaNet configs. Recipe table: docs/en/recipes.md.
_base_ = [
    '../_base_/models/edgevit_retinanet.py',
    'mmdet::_base_/datasets/coco_detection.py',
    '../_base_/schedules/pvt_adamw-1x.py',
    'mmdet::_base_/default_runtime.py',
    'mmdet::retinanet/retinanet_tta.py',
]
