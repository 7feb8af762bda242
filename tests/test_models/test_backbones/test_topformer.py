# Copyright (c) mmhybrid contributors. All rights reserved.
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from helpers import randomize_batchnorm_stats
from torch.nn.modules.batchnorm import _BatchNorm

from mmhybrid.models import TopFormer
from mmhybrid.models.backbones.topformer import (
    TopFormerAttention,
    TopFormerConv2dBN,
    TopFormerPyramidPoolAgg,
    TopFormerSemanticsInjection,
)


def num_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# Parameter counts of the authors' models (reference-models.md section 4.3), in millions with 3
# decimals; asserting |diff| < 500 means our count rounds to the same value.
@pytest.mark.parametrize('arch,expected', [('tiny', 1.370e6), ('small', 2.968e6),
                                           ('base', 4.958e6)])
def test_backbone_param_count(arch, expected):
    assert abs(num_params(TopFormer(arch)) - expected) < 500


@pytest.mark.parametrize('alias,arch', [('t', 'tiny'), ('S', 'small'), ('b', 'base')])
def test_arch_aliases(alias, arch):
    assert TopFormer(alias).arch == TopFormer(arch).arch


def test_tiny_structure_and_key_names():
    model = TopFormer('tiny')
    assert model.tap_channels == (16, 32, 64, 96)
    assert model.embed_dims == 208
    assert [info['num_chs'] for info in model._output_info()] == [16, 128, 128, 128]
    assert model.feature_info == [dict(num_chs=128, reduction=8, module='SIM.1'),
                                  dict(num_chs=128, reduction=16, module='SIM.2'),
                                  dict(num_chs=128, reduction=32, module='SIM.3')]
    keys = set(model.state_dict())
    for key in ['tpm.stem.0.c.weight', 'tpm.stem.0.bn.running_var',
                'tpm.layer1.conv.0.c.weight', 'tpm.layer1.conv.2.bn.weight',
                'tpm.layer2.conv.4.c.weight', 'tpm.layer9.conv.4.bn.num_batches_tracked',
                'trans.transformer_blocks.3.attn.to_q.c.weight',
                'trans.transformer_blocks.0.attn.to_v.bn.bias',
                'trans.transformer_blocks.0.attn.proj.1.c.weight',
                'trans.transformer_blocks.0.mlp.fc1.c.weight',
                'trans.transformer_blocks.0.mlp.dwconv.bias',
                'trans.transformer_blocks.0.mlp.fc2.bn.weight',
                'SIM.1.local_embedding.conv.weight', 'SIM.3.global_act.bn.running_mean',
                'SIM.2.global_embedding.bn.weight']:
        assert key in keys, key
    assert not any(k.startswith(('SIM.0', 'ppa')) for k in keys)
    assert 'tpm.layer1.conv.4.c.weight' not in keys  # expand ratio 1: no expansion conv
    # value projection: heads x 32 channels; depthwise 5x5 in row 4
    assert model.state_dict()['trans.transformer_blocks.0.attn.to_v.c.weight'].shape == (
        128, 208, 1, 1)
    assert model.state_dict()['tpm.layer4.conv.2.c.weight'].shape == (48, 1, 5, 5)
    # the authors' T segmentor has 376 entries, 8 of them in the head (linear_fuse conv + 5 BN
    # entries, conv_seg weight + bias)
    assert len(keys) == 368


def test_tpm_uses_relu_and_sase_relu6():
    model = TopFormer('tiny')
    assert isinstance(model.tpm.stem[1], nn.ReLU)
    assert isinstance(model.tpm.layer2.conv[1], nn.ReLU)
    assert isinstance(model.trans.transformer_blocks[0].mlp.act, nn.ReLU6)
    assert isinstance(model.trans.transformer_blocks[0].attn.proj[0], nn.ReLU6)


def test_token_grid_is_ceil_of_one_64th():
    model = TopFormer('tiny')
    taps = model.tpm(torch.rand(1, 3, 500, 375))
    assert [tuple(t.shape[-2:]) for t in taps] == [(125, 94), (63, 47), (32, 24), (16, 12)]
    assert tuple(model.ppa(taps).shape) == (1, 208, 8, 6)


@pytest.mark.parametrize('mode, modules', [
    ('dense', ['tpm.layer3', 'SIM.1', 'SIM.2', 'SIM.3']),
    ('global', ['tpm.layer3', 'tpm.layer5', 'tpm.layer7', 'tpm.layer9', 'trans']),
])
def test_candidate_outputs_and_their_modules(mode, modules):
    """Dense mode: tap 0 and the three SIMs (detection uses all four); global mode: the four
    taps and the semantics."""
    model = TopFormer('tiny', mode=mode, out_indices=range(len(modules)))
    assert [info['module'] for info in model.feature_info] == modules


def test_global_mode_for_classification():
    model = TopFormer('tiny', mode='global').eval()
    assert not hasattr(model, 'SIM')
    assert not any(k.startswith('SIM') for k in model.state_dict())
    (semantics, ) = model(torch.rand(2, 3, 224, 224))
    assert tuple(semantics.shape) == (2, 208, 4, 4)
    all_outs = TopFormer('tiny', mode='global', out_indices=(0, 1, 2, 3, 4)).eval()(
        torch.rand(1, 3, 64, 64))
    assert [o.shape[1] for o in all_outs] == [16, 32, 64, 96, 208]
    with pytest.raises(ValueError, match='mode must be one of'):
        TopFormer('tiny', mode='cls')


def test_custom_arch_and_validation():
    arch = dict(layer_cfgs=[[3, 1, 8, 2], [3, 2, 16, 2], [3, 2, 24, 2]], tap_indices=[0, 1, 2],
                num_heads=2, injection_channels=[16, 32], depth=1)
    model = TopFormer(arch)
    outs = model(torch.rand(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 16, 8, 8), (1, 32, 4, 4)]
    with pytest.raises(ValueError, match='last tap index'):
        TopFormer({**arch, 'tap_indices': [0, 1]})
    with pytest.raises(ValueError, match='one value per injected scale'):
        TopFormer({**arch, 'injection_channels': [16]})
    with pytest.raises(ValueError, match='strictly increasing'):
        TopFormer({**arch, 'tap_indices': [1, 0, 2]})


def test_attention_logits_are_not_scaled():
    torch.manual_seed(1)
    attn = TopFormerAttention(dim=12, key_dim=4, num_heads=2, attn_ratio=2)
    randomize_batchnorm_stats(attn).eval()
    x = torch.randn(2, 12, 3, 5)
    q = attn.to_q(x).flatten(2).reshape(2, 2, 4, 15)
    k = attn.to_k(x).flatten(2).reshape(2, 2, 4, 15)
    v = attn.to_v(x).flatten(2).reshape(2, 2, 8, 15)
    weights = torch.einsum('bhcn,bhcm->bhnm', q, k).softmax(-1)  # no 1/sqrt(4)
    expected = attn.proj(torch.einsum('bhnm,bhcm->bhcn', weights, v).reshape(2, 16, 3, 5))
    torch.testing.assert_close(attn(x), expected)


def test_injection_applies_h_sigmoid_before_upsampling():
    sim = randomize_batchnorm_stats(TopFormerSemanticsInjection(6, 4, 8)).eval()
    x_local, x_global = torch.randn(1, 6, 7, 9), torch.randn(1, 4, 2, 3)
    up = dict(size=(7, 9), mode='bilinear', align_corners=False)
    gate = F.interpolate(F.relu6(sim.global_act(x_global) + 3) / 6, **up)
    expected = sim.local_embedding(x_local) * gate + F.interpolate(
        sim.global_embedding(x_global), **up)
    torch.testing.assert_close(sim(x_local, x_global), expected)


def test_init_weights_without_init_cfg():
    model = TopFormer('tiny', norm_cfg=dict(type='BN'))
    model.init_weights()
    block = model.trans.transformer_blocks[0]
    assert torch.all(block.attn.proj[1].bn.weight == 0)  # residual branch starts as identity
    assert torch.all(block.attn.to_q.bn.weight == 1)
    conv = model.tpm.layer4.conv[0].c  # 1x1 expansion 16 -> 48: std sqrt(2 / 48)
    assert abs(conv.weight.std().item() / (2 / 48)**0.5 - 1) < 0.1


def test_folded_blocks_are_biased_convs():
    """A folded conv + BN pair is one conv with a bias, and a folded SIM has no BatchNorm left.
    (Idempotence, outputs and ``deploy=True``: ``tests/test_models/test_reparam.py``.)"""
    block = TopFormerConv2dBN(4, 6, 3, 2, 1, groups=2)
    block.reparameterize()
    assert isinstance(block.bn, nn.Identity) and block.c.bias is not None
    assert set(block.state_dict()) == {'c.weight', 'c.bias'}
    assert set(TopFormerConv2dBN(4, 6, 3, 2, 1, groups=2, deploy=True).state_dict()) == \
        {'c.weight', 'c.bias'}
    sim = TopFormerSemanticsInjection(6, 4, 8)
    sim.reparameterize()
    assert not any(isinstance(m, _BatchNorm) for m in sim.modules())


@pytest.mark.parametrize('in_size,out_size', [(7, 4), (63, 8), (16, 8), (5, 1), (9, 9)])
def test_onnx_pooling_path_equals_adaptive_avg_pool(in_size, out_size):
    x = torch.randn(2, 3, in_size, in_size + 2)
    matrix = TopFormerPyramidPoolAgg.bin_average_matrix
    pooled = matrix(in_size, out_size, x.dtype) @ x @ matrix(in_size + 2, out_size, x.dtype).t()
    torch.testing.assert_close(pooled, F.adaptive_avg_pool2d(x, out_size))


def test_injection_channels_override_the_preset_width():
    """The authors' Base Cityscapes config narrows the SIMs to 128 channels
    (``out_channels=[None, 128, 128, 128]``): each SIM is three 1x1 conv + BN pairs from the tap
    width to the SIM width, so 128 instead of 256 saves 3 * (64 + 128 + 160 + 2 * 3) * 128."""
    wide = TopFormer('base')
    narrow = TopFormer('base', injection_channels=128)
    assert wide.injection_channels == (256, 256, 256)
    assert narrow.injection_channels == (128, 128, 128)
    assert num_params(wide) - num_params(narrow) == 3 * (64 + 128 + 160 + 2 * 3) * 128
    outs = narrow.eval()(torch.rand(1, 3, 64, 128))
    assert [o.shape[1] for o in outs] == [128, 128, 128]
    assert TopFormer('tiny', injection_channels=128).injection_channels == (128, 128, 128)
    with pytest.raises(ValueError, match='one value per injected scale'):
        TopFormer('base', injection_channels=[128, 128])
