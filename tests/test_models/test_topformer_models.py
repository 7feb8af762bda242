# Copyright (c) mmhybrid contributors. All rights reserved.
"""Whole TopFormer models built from the shipped configs: sizes, outputs, deploy folding."""
from pathlib import Path

import pytest
import torch
from helpers import randomize_batchnorm_stats
from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch.nn.modules.batchnorm import _BatchNorm

from mmhybrid.models.utils import switch_to_deploy
from mmhybrid.utils.config import replace_sync_bn

CONFIGS = Path(__file__).resolve().parents[2] / 'configs' / 'topformer'


def model_cfg(name: str) -> dict:
    """The config's model with plain BN and no pretrained checkpoint (CPU, no files)."""

    def fix(node):
        if isinstance(node, dict):
            if 'init_cfg' in node and isinstance(node['init_cfg'], dict) and \
                    node['init_cfg'].get('type') == 'Pretrained':
                node['init_cfg'] = None
            for value in node.values():
                fix(value)
        elif isinstance(node, list):
            for value in node:
                fix(value)
        return node

    model = Config.fromfile(str(CONFIGS / name)).model.to_dict()
    replace_sync_bn(model)
    return fix(model)


def build(name: str, scope: str):
    pytest.importorskip(scope)
    init_default_scope(scope)
    registry = __import__(f'{scope}.registry', fromlist=['MODELS']).MODELS
    model = registry.build(model_cfg(name))
    model.init_weights()
    return model


def num_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


# The authors' models (reference-models.md 4.3), millions with 3 decimals: |diff| < 500 params.
@pytest.mark.parametrize('name,expected', [('topformer_t_ade20k.py', 1.390e6),
                                           ('topformer_s_ade20k.py', 3.035e6),
                                           ('topformer_b_ade20k.py', 5.063e6)])
def test_segmentor_param_count(name, expected):
    assert abs(num_params(build(name, 'mmseg')) - expected) < 500


@pytest.mark.parametrize('name,expected', [('topformer-t_8xb128_in1k.py', 1.503e6),
                                           ('topformer-s_8xb128_in1k.py', 3.106e6),
                                           ('topformer-b_8xb128_in1k.py', 5.069e6)])
def test_classifier_param_count(name, expected):
    assert abs(num_params(build(name, 'mmpretrain')) - expected) < 500


def test_segmentor_logits_at_stride_8_and_deploy():
    model = randomize_batchnorm_stats(build('topformer_t_ade20k.py', 'mmseg')).eval()
    x = torch.rand(2, 3, 96, 128)
    with torch.no_grad():
        logits = model(x, mode='tensor')
        assert tuple(logits.shape) == (2, 150, 12, 16)
        switch_to_deploy(model)
        fused = model(x, mode='tensor')
    assert not any(isinstance(m, _BatchNorm) for m in model.modules())
    torch.testing.assert_close(fused, logits, rtol=1e-4, atol=1e-4 * logits.abs().max().item())


def test_classifier_logits_and_deploy():
    model = randomize_batchnorm_stats(build('topformer-t_8xb128_in1k.py', 'mmpretrain')).eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        logits = model(x, mode='tensor')
        assert tuple(logits.shape) == (2, 1000)
        switch_to_deploy(model)
        fused = model(x, mode='tensor')
    assert not any(isinstance(m, _BatchNorm) for m in model.modules())
    torch.testing.assert_close(fused, logits, rtol=1e-4, atol=1e-4 * logits.abs().max().item())


def test_retinanet_feature_pyramid():
    model = build('retinanet_topformer-b_fpn_1x_coco.py', 'mmdet').eval()
    with torch.no_grad():
        feats = model.extract_feat(torch.rand(1, 3, 128, 128))
    assert [tuple(f.shape) for f in feats] == [(1, 256, 16, 16), (1, 256, 8, 8), (1, 256, 4, 4),
                                               (1, 256, 2, 2), (1, 256, 1, 1)]
