# Semantic FPN with an EdgeViT-XXS backbone on ADE20K, PVT-style as in the paper: 80k iterations,
# 4 GPUs x 4 crops of 512x512, AdamW lr 1e-4, wd 1e-4, poly (power 0.9). The authors released
# neither weights nor segmentation code (see the backbone's init_cfg comment in the model base).
# Model: ../_base_/models/edgevit_fpn.py; schedule: ../_base_/schedules/pvt_adamw-poly-80k.py.
_base_ = [
    '../_base_/models/edgevit_fpn.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    '../_base_/schedules/pvt_adamw-poly-80k.py',
]

crop_size = (512, 512)
model = dict(data_preprocessor=dict(size=crop_size), decode_head=dict(num_classes=150))
