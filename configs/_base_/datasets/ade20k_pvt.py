# mmseg's ADE20K pipeline (512x512 crops of the (2048, 512) scale x 0.5-2.0, flip, photometric
# distortion, 4 images per GPU) with PVT's test-time resize: the keep-ratio (2048, 512) scale
# rounded up to a multiple of 32 (whai362/PVT v1, segmentation/configs/_base_/datasets/ade20k.py,
# AlignResize with size_divisor=32). Used by the Semantic FPN configs that follow PVT's recipe.
_base_ = 'mmseg::_base_/datasets/ade20k.py'
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    dict(type='ResizeToMultiple', size_divisor=32),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs')
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
