# Semantic FPN with a HAT-Net-Tiny backbone on ADE20K, PVT segmentation recipe
# (AdamW lr 1e-4, wd 1e-4, poly 0.9, 80k iterations, batch 16).
_base_ = [
    'mmseg::_base_/models/fpn_r50.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py',
]
custom_imports = dict(imports=['mmhybrid.models'], allow_failed_imports=False)

crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
# The authors' ImageNet weights converted with tools/model_converters/hatnet2mmhybrid.py.
checkpoint = 'checkpoints/hatnet-tiny_3rdparty_in1k.pth'  # noqa: E501
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmhybrid.HATNet',
        arch='tiny',
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.')),
    neck=dict(in_channels=[48, 96, 240, 384]),
    decode_head=dict(num_classes=150))

train_dataloader = dict(batch_size=4)
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, weight_decay=1e-4),
    clip_grad=None)
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=80000, by_epoch=False)
]
find_unused_parameters = True
