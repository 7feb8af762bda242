# ResNet-50 with H-MHSA plugged into its bottlenecks through the stock `plugins=` argument:
# the paper's claim that H-MHSA inserts into any CNN. mmpretrain's ResNet does not implement
# `plugins`, so the backbone is mmdet's ResNet (same architecture and key names); everything
# else is mmpretrain's ResNet-50 ImageNet recipe.
#
# Stage 3 (14x14 at 224, bottleneck width 256): hierarchical attention in 7x7 windows, the
# global step over 2x2-pooled windows. Stage 4 (7x7, width 512): global MHSA (grid_size=1).
# Each plug-in returns x + H-MHSA(x) after the bottleneck's 3x3 conv (`after_conv2`).
_base_ = 'mmpretrain::resnet/resnet50_8xb32_in1k.py'
custom_imports = dict(imports=['mmhybrid.models', 'mmdet.models'], allow_failed_imports=False)

hmhsa_plugins = [
    dict(
        cfg=dict(type='mmhybrid.HMHSA', head_dim=64, grid_size=7, ds_ratio=2),
        stages=(False, False, True, False),
        position='after_conv2'),
    dict(
        cfg=dict(type='mmhybrid.HMHSA', head_dim=64, grid_size=1),
        stages=(False, False, False, True),
        position='after_conv2'),
]
model = dict(backbone=dict(type='mmdet.ResNet', plugins=hmhsa_plugins))
