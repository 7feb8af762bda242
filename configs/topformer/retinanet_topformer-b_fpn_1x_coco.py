# RetinaNet + TopFormer-Base + FPN, COCO 1x (12 epochs), 8 GPUs x 2 images. The authors released no
# detection code; the optimiser follows mmdet's PVTv2 RetinaNet recipe (AdamW, lr 1e-4, wd 1e-4).
_base_ = [
    '../_base_/models/topformer_retinanet.py', 'mmdet::_base_/datasets/coco_detection.py',
    'mmdet::_base_/schedules/schedule_1x.py', 'mmdet::_base_/default_runtime.py'
]
checkpoint = 'checkpoints/topformer-b_3rdparty_in1k.pth'
model = dict(
    backbone=dict(
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.')))
optim_wrapper = dict(optimizer=dict(_delete_=True, type='AdamW', lr=0.0001, weight_decay=0.0001))
