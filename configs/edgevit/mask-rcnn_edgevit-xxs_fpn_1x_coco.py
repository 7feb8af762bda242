# Mask R-CNN 1x with an EdgeViT-XXS backbone, PVT-style as in the paper: FPN, AdamW lr 1e-4,
# wd 1e-4, 12 epochs, 8 GPUs x 2 images. The authors released neither weights nor detection code.
# See the backbone's init_cfg comment for ImageNet initialisation.
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmhybrid.models'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmhybrid.EdgeViT',
        arch='xxs',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.1,
        # No weights were released: to start from an ImageNet model trained with
        # edgevit-xxs_8xb256_in1k.py (or converted with edgevit2mmhybrid.py), add e.g.
        # init_cfg=dict(type='Pretrained', prefix='backbone.',
        #               checkpoint='work_dirs/edgevit-xxs_8xb256_in1k/epoch_300.pth'),
    ),
    neck=dict(in_channels=[36, 72, 144, 288]))

optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-4, weight_decay=1e-4))
