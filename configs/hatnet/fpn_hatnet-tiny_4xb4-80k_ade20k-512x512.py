# Semantic FPN with a HAT-Net-Tiny backbone on ADE20K, PVT segmentation recipe
# (AdamW lr 1e-4, wd 1e-4, poly 0.9, 80k iterations, batch 16).
# Model: ../_base_/models/hatnet_fpn.py; schedule: ../_base_/schedules/pvt_adamw-poly-80k.py.
_base_ = [
    '../_base_/models/hatnet_fpn.py',
    '../_base_/datasets/ade20k_pvt.py',
    'mmseg::_base_/default_runtime.py',
    '../_base_/schedules/pvt_adamw-poly-80k.py',
]

crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
# The authors' ImageNet weights converted with tools/model_converters/hatnet2mmhybrid.py.
checkpoint = 'checkpoints/hatnet-tiny_3rdparty_in1k.pth'  # noqa: E501
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.')),
    decode_head=dict(num_classes=150))

train_dataloader = dict(batch_size=4)
# `attn.proj_norm` exists only for checkpoint compatibility and gets no gradient.
find_unused_parameters = True
