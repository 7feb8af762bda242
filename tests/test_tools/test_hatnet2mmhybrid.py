# Copyright (c) mmhybrid contributors. All rights reserved.
"""The converter on random checkpoints written in the authors' key layout.

The layout is generated here from the description of the authors' releases
(reference-models.md section 3.6), independently of mmhybrid's modules.
"""
import importlib.util
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from helpers import load_tool

from mmhybrid.models.backbones.hatnet import HATNet, TransCNN

ROOT = Path(__file__).resolve().parents[2]
converter = load_tool('model_converters/hatnet2mmhybrid.py')


def _norm(state, prefix, channels, batch_norm):
    state[prefix + 'weight'] = torch.rand(channels) + 0.5
    state[prefix + 'bias'] = torch.randn(channels)
    if batch_norm:
        state[prefix + 'running_mean'] = torch.randn(channels)
        state[prefix + 'running_var'] = torch.rand(channels) + 0.5
        state[prefix + 'num_batches_tracked'] = torch.tensor(7)


def _conv(state, prefix, out_c, in_c, k=1, bias=True):
    state[prefix + 'weight'] = torch.randn(out_c, in_c, k, k) * 0.02
    if bias:
        state[prefix + 'bias'] = torch.randn(out_c) * 0.02


def authors_state_dict(family: str, arch: dict, num_classes: int = 1000) -> OrderedDict:
    """A random state dict named and shaped as in the authors' TransCNN.py / HAT_Net.py."""
    bn = family == 'transcnn'
    dims = arch['embed_dims']
    s = OrderedDict()
    _conv(s, 'patch_embed.0.', 16, 3, 3)
    _norm(s, 'patch_embed.1.', 16, bn)
    _conv(s, 'patch_embed.3.', dims[0], 16, 3)
    for stage, depth in enumerate(arch['depths']):
        c, hidden = dims[stage], dims[stage] * arch['expansions'][stage]
        k = arch['kernel_sizes'][stage]
        for i in range(depth):
            p = f'blocks.{stage}.{i}.'
            _norm(s, p + 'attn.norm.', c, bn)
            _conv(s, p + 'attn.qkv.', 3 * c, c)
            _conv(s, p + 'attn.proj.', c, c)
            if not bn:
                _norm(s, p + 'attn.proj_norm.', c, bn)
            if arch['grid_sizes'][stage] > 1:
                _norm(s, p + 'attn.grid_norm.', c, bn)
                _norm(s, p + 'attn.ds_norm.', c, bn)
                _conv(s, p + 'attn.q.', c, c)
                _conv(s, p + 'attn.kv.', 2 * c, c)
            if bn:  # post-norm IRB
                _conv(s, p + 'conv.conv1.0.', hidden, c, bias=False)
                _norm(s, p + 'conv.conv1.1.', hidden, bn)
                s[p + 'conv.conv2.0.weight'] = torch.randn(hidden, 1, k, k)
                _norm(s, p + 'conv.conv2.1.', hidden, bn)
                _conv(s, p + 'conv.conv3.0.', c, hidden, bias=False)
                _norm(s, p + 'conv.conv3.1.', c, bn)
            else:  # pre-norm IRB
                _norm(s, p + 'conv.conv1.0.', c, bn)
                _conv(s, p + 'conv.conv1.1.', hidden, c, bias=False)
                s[p + 'conv.conv2.0.weight'] = torch.randn(hidden, 1, k, k)
                _conv(s, p + 'conv.conv3.0.', c, hidden, bias=False)
                _norm(s, p + 'conv.conv3.1.', c, bn)
    for stage in range(1, 4):
        p = f'ds{stage + 1}.'
        _conv(s, p + 'conv.', dims[stage], dims[stage - 1], 3)
        if bn:
            _conv(s, p + 'residual.', dims[stage], dims[stage - 1], 1)
            _norm(s, p + 'norm1.', dims[stage], bn)
            _norm(s, p + 'norm2.', dims[stage], bn)
        else:
            _norm(s, p + 'norm.', dims[stage], bn)
    s['classifier.1.weight'] = torch.randn(num_classes, dims[-1])
    s['classifier.1.bias'] = torch.randn(num_classes)
    return s


def test_generated_layout_has_the_authors_entry_counts():
    assert len(authors_state_dict('transcnn', TransCNN.arch_settings['small'])) == 749
    assert len(authors_state_dict('hatnet', HATNet.arch_settings['small'])) == 364


@pytest.mark.parametrize('family,cls', [('transcnn', TransCNN), ('hatnet', HATNet)])
@pytest.mark.parametrize('wrap', ['raw', 'model', 'ddp'])
def test_convert_classifier_layout(tmp_path, family, cls, wrap):
    state = authors_state_dict(family, cls.arch_settings['tiny'])
    if wrap == 'model':
        saved = dict(model=state, optimizer={}, epoch=299)
    elif wrap == 'ddp':
        saved = OrderedDict(('module.' + k, v) for k, v in state.items())
    else:
        saved = state
    src, dst = tmp_path / 'src.pth', tmp_path / 'out' / 'dst.pth'
    torch.save(saved, src)
    result = converter.main([str(src), str(dst)])
    assert result['meta']['model'] == cls.__name__ and result['meta']['arch'] == 'tiny'

    converted = torch.load(dst, map_location='cpu')['state_dict']
    assert len(converted) == len(state)
    torch.testing.assert_close(converted['head.fc.weight'], state['classifier.1.weight'])
    torch.testing.assert_close(converted['backbone.blocks.1.0.attn.qkv.weight'],
                               state['blocks.1.0.attn.qkv.weight'])
    model = cls('tiny')
    model.load_state_dict({k[9:]: v for k, v in converted.items() if k.startswith('backbone.')},
                          strict=True)


@pytest.mark.skipif(not importlib.util.find_spec('mmpretrain'), reason='needs mmpretrain')
def test_converted_checkpoint_loads_into_the_mmpretrain_classifier(tmp_path):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    init_default_scope('mmpretrain')
    state = authors_state_dict('hatnet', HATNet.arch_settings['tiny'])
    torch.save(state, tmp_path / 'src.pth')
    converter.main([str(tmp_path / 'src.pth'), str(tmp_path / 'dst.pth')])
    cfg = Config.fromfile(str(ROOT / 'configs/hatnet/hatnet-tiny_8xb128_in1k.py'))
    classifier = MODELS.build(cfg.model)
    converted = torch.load(tmp_path / 'dst.pth', map_location='cpu')['state_dict']
    classifier.load_state_dict(converted, strict=True)


def test_backbone_only(tmp_path, capsys):
    state = authors_state_dict('transcnn', TransCNN.arch_settings['tiny'])
    torch.save(state, tmp_path / 'src.pth')
    result = converter.main(['--backbone-only', str(tmp_path / 'src.pth'),
                             str(tmp_path / 'dst.pth')])
    assert 'classifier.1.weight' in capsys.readouterr().out
    assert not any(k.startswith(('backbone.', 'head.', 'classifier')) for k in result['state_dict'])
    TransCNN('tiny').load_state_dict(result['state_dict'], strict=True)


def test_ema(tmp_path):
    state = authors_state_dict('hatnet', HATNet.arch_settings['tiny'])
    ema = OrderedDict((k, v + 1 if v.is_floating_point() else v) for k, v in state.items())
    torch.save(dict(model=state, model_ema=ema), tmp_path / 'src.pth')
    result = converter.main(['--ema', str(tmp_path / 'src.pth'), str(tmp_path / 'dst.pth')])
    assert result['meta']['source_key'] == 'model_ema'
    torch.testing.assert_close(result['state_dict']['backbone.ds2.conv.bias'],
                               ema['ds2.conv.bias'])
    torch.save(dict(model=state), tmp_path / 'plain.pth')
    with pytest.raises(KeyError, match='no "model_ema"'):
        converter.main(['--ema', str(tmp_path / 'plain.pth'), str(tmp_path / 'x.pth')])


def test_rejects_incomplete_and_foreign_checkpoints(tmp_path):
    state = authors_state_dict('hatnet', HATNet.arch_settings['tiny'])
    del state['blocks.2.3.attn.proj_norm.weight']
    torch.save(state, tmp_path / 'missing.pth')
    with pytest.raises(RuntimeError, match='do not match HATNet'):
        converter.main([str(tmp_path / 'missing.pth'), str(tmp_path / 'x.pth')])
    assert not (tmp_path / 'x.pth').exists()

    torch.save({'conv1.weight': torch.zeros(1)}, tmp_path / 'foreign.pth')
    with pytest.raises(KeyError, match='not a checkpoint in the authors'):
        converter.main([str(tmp_path / 'foreign.pth'), str(tmp_path / 'x.pth')])

    custom = dict(HATNet.arch_settings['tiny'], depths=[1, 1, 1, 1])
    torch.save(authors_state_dict('hatnet', custom), tmp_path / 'custom.pth')
    with pytest.raises(ValueError, match='No HATNet preset'):
        converter.main([str(tmp_path / 'custom.pth'), str(tmp_path / 'x.pth')])

    state = authors_state_dict('transcnn', TransCNN.arch_settings['tiny'], num_classes=10)
    state['classifier.1.weight'] = torch.randn(10, 7)
    torch.save(state, tmp_path / 'head.pth')
    with pytest.raises(RuntimeError, match='Linear classifier on 512 channels'):
        converter.main([str(tmp_path / 'head.pth'), str(tmp_path / 'x.pth')])
