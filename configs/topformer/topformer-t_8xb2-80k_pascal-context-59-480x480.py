# TopFormer-Tiny, Pascal Context (59 classes), 480x480, 80k iterations, 8 GPUs x 2 images (the
# authors' topformer_t_480x480_80k_2x8_pascalcontext_59.py).
_base_ = [
    '../_base_/models/topformer.py', 'mmseg::_base_/datasets/pascal_context_59.py',
    'mmseg::_base_/default_runtime.py', '../_base_/schedules/topformer_adamw-poly-80k.py'
]
crop_size = (480, 480)
checkpoint = 'checkpoints/topformer-t_3rdparty_in1k.pth'
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.')),
    decode_head=dict(num_classes=59))
train_dataloader = dict(batch_size=2, num_workers=2)
val_dataloader = dict(batch_size=1, num_workers=2)
test_dataloader = val_dataloader
auto_scale_lr = dict(enable=False, base_batch_size=16)
