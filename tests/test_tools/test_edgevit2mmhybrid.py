# Copyright (c) mmhybrid contributors. All rights reserved.

import pytest
import torch
import torch.nn.functional as F
from helpers import load_tool, randomize_batchnorm_stats
from mmengine.registry import init_default_scope

from mmhybrid.models import EdgeViT

converter = load_tool('model_converters/edgevit2mmhybrid.py')


def _authors_state_dict(arch='xxs', num_classes=10):
    """A random EdgeViT in the authors' key layout (backbone + ``norm`` + ``head``)."""
    model = EdgeViT(arch, final_norm=True)
    randomize_batchnorm_stats(model)
    state = dict(model.state_dict())
    channels = EdgeViT.arch_settings[arch]['embed_dims'][-1]
    state['head.weight'] = torch.randn(num_classes, channels)
    state['head.bias'] = torch.randn(num_classes)
    return state


def _authors_logits(state, arch, x):
    model = EdgeViT(arch, final_norm=True, out_indices=3).eval()
    model.load_state_dict({k: v for k, v in state.items() if not k.startswith('head.')})
    features = model(x)[0].flatten(2).mean(-1)
    return F.linear(features, state['head.weight'], state['head.bias'])


def test_authors_layout_matches_spec_listing():
    keys = set(_authors_state_dict('s'))
    assert len(keys) == 385
    assert {'head.weight', 'norm.num_batches_tracked', 'blocks2.1.LocalAgg.mlp.fc2.bias',
            'blocks4.2.SelfAttn.attn.qkv.weight'} <= keys


def test_convert_training_checkpoint_to_classifier(tmp_path):
    from mmpretrain.registry import MODELS as PRETRAIN_MODELS
    init_default_scope('mmpretrain')  # the build resolves names in the current default scope
    state = _authors_state_dict('xxs')
    ema = {k: v + 1 if v.is_floating_point() else v for k, v in state.items()}
    src = tmp_path / 'checkpoint.pth'
    torch.save(dict(model=state, model_ema=ema, optimizer={}, epoch=299, args=None), src)

    result = converter.main([str(src), str(tmp_path / 'out.pth')])
    assert result['meta']['arch'] == 'xxs' and result['meta']['source_key'] == 'model'
    saved = torch.load(tmp_path / 'out.pth', weights_only=False)
    assert set(saved['state_dict']) == set(result['state_dict'])
    assert 'backbone.norm.running_var' in saved['state_dict']
    assert 'head.fc.weight' in saved['state_dict']

    classifier = PRETRAIN_MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='mmhybrid.EdgeViT', arch='xxs', final_norm=True),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=10, in_channels=288))).eval()
    classifier.load_state_dict(saved['state_dict'], strict=True)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(classifier(x, mode='tensor'), _authors_logits(state, 'xxs', x),
                                   rtol=1e-5, atol=1e-5)

    ema_result = converter.main([str(src), str(tmp_path / 'ema.pth'), '--ema'])
    assert ema_result['meta']['source_key'] == 'model_ema'
    assert torch.equal(ema_result['state_dict']['head.fc.bias'], ema['head.bias'])


def test_convert_raw_ddp_state_dict_backbone_only(tmp_path, capsys):
    state = _authors_state_dict('xs')
    src = tmp_path / 'raw.pth'
    torch.save({'module.' + k: v for k, v in state.items()}, src)

    result = converter.main([str(src), str(tmp_path / 'bb.pth'), '--backbone-only'])
    assert result['meta']['layout'] == 'backbone'
    out = capsys.readouterr().out
    assert 'Dropped 7 keys' in out  # head: 2, BatchNorm norm.*: 5
    assert out.splitlines()[-1].endswith(f'to {tmp_path / "bb.pth"}.')  # the last line: where
    backbone = EdgeViT('xs')
    backbone.load_state_dict(result['state_dict'], strict=True)

    kept = converter.main([str(src), str(tmp_path / 'bbn.pth'), '--backbone-only',
                           '--keep-final-norm'])
    EdgeViT('xs', final_norm=True).load_state_dict(kept['state_dict'], strict=True)


def test_custom_architecture_is_inferred(tmp_path):
    arch = dict(depths=[1, 2, 1, 1], embed_dims=[8, 16, 24, 32], num_heads=[1, 1, 1, 1],
                mlp_ratios=[2, 2, 2, 2], sr_ratios=[4, 2, 2, 1])
    state = dict(EdgeViT(arch, final_norm=True).state_dict())
    state.update({'head.weight': torch.zeros(3, 32), 'head.bias': torch.zeros(3)})
    torch.save(state, tmp_path / 'custom.pth')
    result = converter.main([str(tmp_path / 'custom.pth'), str(tmp_path / 'out.pth')])
    assert result['meta']['arch'] == arch


def test_mismatched_weights_are_rejected(tmp_path):
    state = _authors_state_dict('xxs')
    state['blocks1.0.LocalAgg.extra.weight'] = torch.zeros(1)
    torch.save(dict(model=state), tmp_path / 'bad.pth')
    with pytest.raises(RuntimeError, match='Unexpected key'):
        converter.main([str(tmp_path / 'bad.pth'), str(tmp_path / 'out.pth')])

    state = _authors_state_dict('xxs')
    del state['head.bias']
    torch.save(state, tmp_path / 'nohead.pth')
    with pytest.raises(RuntimeError, match='--backbone-only'):
        converter.main([str(tmp_path / 'nohead.pth'), str(tmp_path / 'out.pth')])

    torch.save(dict(model=state), tmp_path / 'noema.pth')
    with pytest.raises(KeyError, match='model_ema'):
        converter.main([str(tmp_path / 'noema.pth'), str(tmp_path / 'out.pth'), '--ema'])
    with pytest.raises(ValueError, match='only applies with --backbone-only'):
        converter.main([str(tmp_path / 'noema.pth'), str(tmp_path / 'out.pth'),
                        '--keep-final-norm'])
