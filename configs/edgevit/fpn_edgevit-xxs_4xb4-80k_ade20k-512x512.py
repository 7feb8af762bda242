# Semantic FPN with an EdgeViT-XXS backbone on ADE20K, PVT-style as in the paper (the authors
# released neither weights nor segmentation code): 80k iterations, 4 GPUs x 4 crops of 512x512,
# AdamW lr 1e-4, wd 1e-4, poly (power 0.9), test at the (2048, 512) scale rounded up to a multiple
# of 32. The backbone loads the ImageNet run of edgevit-xxs_8xb256_in1k.py (model base:
# ../_base_/models/edgevit_fpn.py); schedule: ../_base_/schedules/pvt_adamw-poly-80k.py.
# Recipe table: docs/en/recipes.md.
_base_ = [
    '../_base_/models/edgevit_fpn.py',
    '../_base_/datasets/ade20k_pvt.py',
    'mmseg::_base_/default_runtime.py',
    '../_base_/schedules/pvt_adamw-poly-80k.py',
]

crop_size = (512, 512)
model = dict(data_preprocessor=dict(size=crop_size), decode_head=dict(num_classes=150))
