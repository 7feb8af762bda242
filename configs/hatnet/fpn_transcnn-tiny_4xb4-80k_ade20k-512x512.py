# Semantic FPN with a TransCNN-Tiny backbone on ADE20K, PVT segmentation recipe
# (AdamW lr 1e-4, wd 1e-4, poly 0.9, 80k iterations, batch 16): the HAT-Net model base
# (../_base_/models/hatnet_fpn.py) with the TransCNN backbone type.
_base_ = [
    '../_base_/models/hatnet_fpn.py',
    '../_base_/datasets/ade20k_pvt.py',
    'mmseg::_base_/default_runtime.py',
    '../_base_/schedules/pvt_adamw-poly-80k.py',
]

crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
# The authors' ImageNet weights converted with tools/model_converters/hatnet2mmhybrid.py.
checkpoint = 'checkpoints/transcnn-tiny_3rdparty_in1k.pth'  # noqa: E501
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='mmhybrid.TransCNN',
        # BatchNorm with a few images per GPU: keep the ImageNet statistics, as
        # mmdet does for pretrained ResNets (affine parameters still train).
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.')),
    neck=dict(in_channels=[64, 128, 256, 512]),
    decode_head=dict(num_classes=150))

train_dataloader = dict(batch_size=4)
