# TopFormer-Tiny semantic segmentor (TopFormer backbone + TopFormerHead, the authors' SimpleHead).
# Small/Base configs override backbone.arch and the head widths.
custom_imports = dict(imports=['mmhybrid.models'], allow_failed_imports=False)
norm_cfg = dict(type='SyncBN', requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='mmhybrid.TopFormer',
        arch='tiny',
        mode='dense',
        out_indices=(1, 2, 3),  # the SIM outputs at strides 8 / 16 / 32
        drop_path_rate=0.1,
        norm_cfg=norm_cfg),
    decode_head=dict(
        type='mmhybrid.TopFormerHead',
        in_channels=[128, 128, 128],
        in_index=[0, 1, 2],
        channels=128,
        depthwise_fuse=True,  # Tiny only, as the authors
        dropout_ratio=0.1,
        num_classes=150,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
