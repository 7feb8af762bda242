# RetinaNet 1x with a stock mmdet ResNet-50 whose stage-3/4 bottlenecks carry H-MHSA
# plug-ins (see resnet50-hmhsa_8xb32_in1k.py). The ResNet weights come from torchvision as in
# the base config; the plug-ins start from their own initialisation (mmdet reports them as
# missing keys of the torchvision checkpoint, as for its GCNet/DCN plug-in configs).
# The base config keeps every BatchNorm of the backbone in eval mode (`norm_eval=True`), which
# would freeze fresh plug-in BNs at their initial statistics, so the plug-ins use HAT-Net's
# batch-independent GroupNorm(1) instead.
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmhybrid.models'], allow_failed_imports=False)

hmhsa_norm_cfg = dict(type='GN', num_groups=1, eps=1e-6)
model = dict(
    backbone=dict(plugins=[
        dict(
            cfg=dict(type='mmhybrid.HMHSA', head_dim=64, grid_size=7, ds_ratio=2,
                     norm_cfg=hmhsa_norm_cfg),
            stages=(False, False, True, False),
            position='after_conv2'),
        dict(
            cfg=dict(type='mmhybrid.HMHSA', head_dim=64, grid_size=1,
                     norm_cfg=hmhsa_norm_cfg),
            stages=(False, False, False, True),
            position='after_conv2'),
    ]))
