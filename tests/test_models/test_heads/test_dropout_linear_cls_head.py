# Copyright (c) mmhybrid contributors. All rights reserved.
import os.path as osp

import pytest
import torch
from mmengine.registry import init_default_scope

pytest.importorskip('mmpretrain')
from mmpretrain.models.heads import LinearClsHead  # noqa: E402

from mmhybrid.models import DropoutLinearClsHead  # noqa: E402


@pytest.fixture(autouse=True)
def _mmpretrain_scope():
    init_default_scope('mmpretrain')


def test_same_state_dict_and_eval_output_as_linear_cls_head():
    head = DropoutLinearClsHead(num_classes=5, in_channels=8).eval()
    plain = LinearClsHead(num_classes=5, in_channels=8).eval()
    assert head.state_dict().keys() == plain.state_dict().keys() == {'fc.weight', 'fc.bias'}
    plain.load_state_dict(head.state_dict())
    feats = (torch.rand(3, 8), )
    assert torch.equal(head(feats), plain(feats))


def test_dropout_is_active_only_in_training():
    head = DropoutLinearClsHead(num_classes=4, in_channels=64, dropout_rate=0.5)
    torch.nn.init.eye_(head.fc.weight[:, :4])
    feats = (torch.ones(2, 64), )
    head.train()
    assert not torch.equal(head(feats), head(feats))  # different masks
    head.eval()
    assert torch.equal(head(feats), head(feats))
    assert isinstance(DropoutLinearClsHead(4, 8, dropout_rate=0.).dropout, torch.nn.Identity)
    with pytest.raises(ValueError, match='dropout_rate'):
        DropoutLinearClsHead(4, 8, dropout_rate=1.0)


def test_hatnet_config_builds_the_authors_dropout():
    from mmengine.config import Config
    from mmpretrain.registry import MODELS
    repo = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
    cfg = Config.fromfile(osp.join(repo, 'configs', '_base_', 'models', 'hatnet_cls.py'))
    head = MODELS.build(cfg.model.head)
    assert isinstance(head, DropoutLinearClsHead) and head.dropout.p == 0.2
