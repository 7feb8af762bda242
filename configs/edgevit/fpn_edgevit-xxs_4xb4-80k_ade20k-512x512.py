# Semantic FPN with an EdgeViT-XXS backbone on ADE20K, PVT-style as in the paper: 80k iterations,
# 4 GPUs x 4 crops of 512x512, AdamW lr 1e-4, wd 1e-4, poly (power 0.9). The authors released
# neither weights nor segmentation code (see the backbone's init_cfg comment). The backbone pads
# internally, so whole-image testing at any aspect ratio needs no ResizeToMultiple.
_base_ = [
    'mmseg::_base_/models/fpn_r50.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py',
]
custom_imports = dict(imports=['mmhybrid.models'], allow_failed_imports=False)

crop_size = (512, 512)
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained=None,  # the base's ResNet checkpoint
    backbone=dict(
        _delete_=True,
        type='mmhybrid.EdgeViT',
        arch='xxs',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.1,
        norm_cfg=norm_cfg,
        # No weights were released: to start from an ImageNet model trained with
        # edgevit-xxs_8xb256_in1k.py (or converted with edgevit2mmhybrid.py), add e.g.
        # init_cfg=dict(type='Pretrained', prefix='backbone.',
        #               checkpoint='work_dirs/edgevit-xxs_8xb256_in1k/epoch_300.pth'),
    ),
    neck=dict(in_channels=[36, 72, 144, 288]),
    decode_head=dict(num_classes=150))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, weight_decay=1e-4),
    clip_grad=None)
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0., begin=0, end=80000, by_epoch=False)
]
