# Copyright (c) mmhybrid contributors. All rights reserved.
import torch.nn as nn
from mmengine.config import Config

from mmhybrid.utils.config import SYNC_BN_TYPES, replace_sync_bn


def test_replace_sync_bn_rewrites_every_variant_in_place():
    cfg = Config(dict(model=dict(
        backbone=dict(type='TopFormer', norm_cfg=dict(type='SyncBN', requires_grad=True)),
        decode_head=dict(norm_cfg=dict(type='mmseg.NaiveSyncBN')),
        neck=[dict(norm_cfg=dict(type='MMSyncBN')), (dict(type='TorchSyncBN'), )],
        kept=dict(norm_cfg=dict(type='GN', num_groups=8), layer=dict(type=nn.SyncBatchNorm)))))
    assert replace_sync_bn(cfg) == 4
    assert replace_sync_bn(cfg) == 0
    model = cfg.model
    assert model.backbone.norm_cfg == dict(type='BN', requires_grad=True)
    assert model.decode_head.norm_cfg.type == 'BN'
    assert model.neck[0].norm_cfg.type == 'BN' and model.neck[1][0]['type'] == 'BN'
    assert model.kept.norm_cfg.type == 'GN' and model.kept.layer.type is nn.SyncBatchNorm
    assert 'SyncBN' in SYNC_BN_TYPES and replace_sync_bn('SyncBN') == 0
