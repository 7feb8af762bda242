# RetinaNet + TopFormer-Base + FPN, COCO 1x (12 epochs), 8 GPUs x 2 images. The authors released no
# detection code; the optimiser follows mmdet's PVTv2 RetinaNet recipe (AdamW, lr 1e-4, wd 1e-4):
# ../_base_/schedules/pvt_adamw-1x.py.
_base_ = [
    '../_base_/models/topformer_retinanet.py', 'mmdet::_base_/datasets/coco_detection.py',
    '../_base_/schedules/pvt_adamw-1x.py', 'mmdet::_base_/default_runtime.py'
]
checkpoint = 'checkpoints/topformer-b_3rdparty_in1k.pth'
model = dict(
    backbone=dict(
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.')))
