# TopFormer-Tiny, COCO-Stuff-10k (171 classes), 512x512, 80k iterations, 8 GPUs x 2 images (the
# authors' topformer_t_512x512_80k_2x8_cocostuff10k.py).
_base_ = [
    '../_base_/models/topformer.py', 'mmseg::_base_/datasets/coco-stuff10k.py',
    'mmseg::_base_/default_runtime.py', '../_base_/schedules/topformer_adamw-poly-80k.py'
]
crop_size = (512, 512)
checkpoint = 'checkpoints/topformer-t_3rdparty_in1k.pth'
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.')),
    decode_head=dict(num_classes=171))
train_dataloader = dict(batch_size=2, num_workers=2)
val_dataloader = dict(batch_size=1, num_workers=2)
test_dataloader = val_dataloader
auto_scale_lr = dict(enable=False, base_batch_size=16)
