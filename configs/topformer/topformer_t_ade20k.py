# TopFormer-Tiny, ADE20K 512x512, 160k iterations, 8 GPUs x 2 images (the authors'
# topformer_tiny_512x512_160k_2x8_ade20k.py). Paper: 33.6 mIoU (34.6 with 8 x 4 images).
# Pre-training: convert the authors' topformer-T-224-66.2.pth with
#   python tools/model_converters/topformer2mmhybrid.py topformer-T-224-66.2.pth \
#       checkpoints/topformer-t_3rdparty_in1k.pth --allow-pickle
# or train from scratch with --cfg-options model.backbone.init_cfg=None.
_base_ = [
    '../_base_/models/topformer.py', 'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py', '../_base_/schedules/topformer_adamw-poly-160k.py'
]
crop_size = (512, 512)
checkpoint = 'checkpoints/topformer-t_3rdparty_in1k.pth'
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.')))

# The authors test at the keep-ratio (2048, 512) scale rounded to a multiple of 32.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    dict(type='ResizeToMultiple', size_divisor=32),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs')
]
train_dataloader = dict(batch_size=2, num_workers=2)
val_dataloader = dict(batch_size=1, num_workers=2, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

# AdamW lr 3e-4, head lr x10, poly with warm-up: ../_base_/schedules/topformer_adamw-poly-160k.py.

# 8 GPUs x 2 images, as in the authors' runs
auto_scale_lr = dict(enable=False, base_batch_size=16)
