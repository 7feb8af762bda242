# RetinaNet with a TopFormer-Base backbone: the three SIM outputs (strides 8 / 16 / 32, 256
# channels) feed the FPN, which adds P6 / P7 from the stride-32 map.
_base_ = 'mmdet::_base_/models/retinanet_r50_fpn.py'
custom_imports = dict(imports=['mmhybrid.models'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmhybrid.TopFormer',
        arch='base',
        mode='dense',
        out_indices=(1, 2, 3),
        drop_path_rate=0.1,
        norm_cfg=dict(type='SyncBN', requires_grad=True)),
    neck=dict(in_channels=[256, 256, 256], start_level=0, num_outs=5))
