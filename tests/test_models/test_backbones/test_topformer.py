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
from mmhybrid.models.utils import switch_to_deploy


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


@pytest.mark.parametrize('size,expected', [
    ((512, 512), [(64, 64), (32, 32), (16, 16)]),
    ((375, 500), [(47, 63), (24, 32), (12, 16)]),
    ((513, 513), [(65, 65), (33, 33), (17, 17)]),
    ((512, 1024), [(64, 128), (32, 64), (16, 32)]),
])
def test_dense_any_input_size(size, expected):
    model = TopFormer('tiny').eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, *size))
    assert [tuple(o.shape[-2:]) for o in outs] == expected
    assert all(o.shape[:2] == (1, 128) for o in outs)


@pytest.mark.parametrize('arch,channels', [('small', 192), ('base', 256)])
def test_dense_batch2_other_archs(arch, channels):
    model = TopFormer(arch).eval()
    with torch.no_grad():
        outs = model(torch.rand(2, 3, 96, 80))
    assert [tuple(o.shape) for o in outs] == [(2, channels, 12, 10), (2, channels, 6, 5),
                                              (2, channels, 3, 3)]


def test_token_grid_is_ceil_of_one_64th():
    model = TopFormer('tiny')
    taps = model.tpm(torch.rand(1, 3, 500, 375))
    assert [tuple(t.shape[-2:]) for t in taps] == [(125, 94), (63, 47), (32, 24), (16, 12)]
    assert tuple(model.ppa(taps).shape) == (1, 208, 8, 6)


def test_out_indices_for_detection_and_errors():
    model = TopFormer('tiny', out_indices=(0, -3, 2, -1)).eval()
    outs = model(torch.rand(1, 3, 64, 64))
    assert model.out_indices == (0, 1, 2, 3)
    assert [tuple(o.shape) for o in outs] == [(1, 16, 16, 16), (1, 128, 8, 8), (1, 128, 4, 4),
                                              (1, 128, 2, 2)]
    with pytest.raises(ValueError, match='out of range'):
        TopFormer('tiny', out_indices=(4, ))
    with pytest.raises(ValueError, match='out of range'):
        TopFormer('tiny', mode='global', out_indices=5)
    with pytest.raises(ValueError, match='names an output twice'):
        TopFormer('tiny', out_indices=(1, -3))
    with pytest.raises(TypeError, match='out_indices'):
        TopFormer('tiny', out_indices='1')


@pytest.mark.parametrize('mode,out_indices,channels,strides,modules', [
    ('dense', (3, 0), [16, 128], [4, 32], ['tpm.layer3', 'SIM.3']),
    ('global', (4, -5, 2), [16, 64, 208], [4, 16, 64], ['tpm.layer3', 'tpm.layer7', 'trans']),
])
def test_outputs_in_candidate_order_and_feature_info(mode, out_indices, channels, strides,
                                                     modules):
    """Outputs come in candidate order whatever the order of out_indices (it used to follow
    the caller's order); feature_info describes output i."""
    model = TopFormer('tiny', mode=mode, out_indices=out_indices).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 130, 70))
    assert [o.shape[1] for o in outs] == channels
    assert [info['num_chs'] for info in model.feature_info] == channels
    assert [info['reduction'] for info in model.feature_info] == strides
    assert [info['module'] for info in model.feature_info] == modules
    for out, stride in zip(outs, strides):
        assert tuple(out.shape[2:]) == (-(-130 // stride), -(-70 // stride))


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
    with pytest.raises(ValueError, match=r"missing \['num_heads'\]"):
        TopFormer({k: v for k, v in arch.items() if k != 'num_heads'})
    with pytest.raises(ValueError, match=r"unknown \['channels'\]"):
        TopFormer({**arch, 'channels': [1]})
    with pytest.raises(ValueError, match=r"unknown arch 'huge'; choose one of \['base', "):
        TopFormer('huge')
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


def test_frozen_stages_and_norm_eval():
    model = TopFormer('tiny', frozen_stages=1)
    model.train()
    frozen = [model.tpm.stem] + [getattr(model.tpm, f'layer{i}') for i in range(1, 6)]
    for module in frozen:
        assert not module.training
        assert all(not p.requires_grad for p in module.parameters())
    assert model.tpm.layer6.training
    assert all(p.requires_grad for p in model.tpm.layer6.parameters())
    assert all(p.requires_grad for p in model.trans.parameters())

    model = TopFormer('tiny', frozen_stages=4).train()
    assert all(not p.requires_grad for p in model.tpm.parameters())
    assert all(not p.requires_grad for p in model.trans.parameters())
    assert all(p.requires_grad for p in model.SIM.parameters())
    with pytest.raises(ValueError, match='frozen_stages'):
        TopFormer('tiny', frozen_stages=5)

    model = TopFormer('tiny', norm_eval=True).train()
    assert all(not m.training for m in model.modules() if isinstance(m, _BatchNorm))
    assert model.trans.training


def test_constructor_validation():
    with pytest.raises(ValueError, match='frozen_stages'):
        TopFormer('tiny', frozen_stages=1.5)
    with pytest.raises(ValueError, match='frozen_stages'):
        TopFormer('tiny', mode='global', frozen_stages=5)
    with pytest.raises(ValueError, match=r'drop_path_rate must be a number in \[0, 1\)'):
        TopFormer('tiny', drop_path_rate=1.0)
    with pytest.raises(ValueError, match='drop_path_rate'):
        TopFormer('tiny', drop_path_rate=-0.1)


def test_frozen_stages_apply_at_construction():
    model = TopFormer('tiny', frozen_stages=0)  # no .train() call
    assert not model.tpm.stem.training and not model.tpm.layer3.training
    assert all(not p.requires_grad for p in model.tpm.layer3.parameters())
    assert all(p.requires_grad for p in model.tpm.layer4.parameters())


def test_conv2d_bn_reparameterize_and_deploy_flag():
    block = randomize_batchnorm_stats(TopFormerConv2dBN(4, 6, 3, 2, 1, groups=2)).eval()
    x = torch.randn(2, 4, 9, 7)
    with torch.no_grad():
        expected = block(x)
        block.reparameterize()
        block.reparameterize()  # idempotent
        torch.testing.assert_close(block(x), expected, rtol=1e-5, atol=1e-5)
    assert isinstance(block.bn, nn.Identity) and block.c.bias is not None
    fresh = TopFormerConv2dBN(4, 6, 3, 2, 1, groups=2, deploy=True)
    assert set(fresh.state_dict()) == {'c.weight', 'c.bias'}
    fresh.load_state_dict(block.state_dict(), strict=True)
    torch.testing.assert_close(fresh.eval()(x), block(x), rtol=0, atol=0)


def test_injection_reparameterize():
    sim = randomize_batchnorm_stats(TopFormerSemanticsInjection(6, 4, 8)).eval()
    x_local, x_global = torch.randn(1, 6, 7, 9), torch.randn(1, 4, 2, 3)
    with torch.no_grad():
        expected = sim(x_local, x_global)
        sim.reparameterize()
        torch.testing.assert_close(sim(x_local, x_global), expected, rtol=1e-5, atol=1e-5)
    assert not any(isinstance(m, _BatchNorm) for m in sim.modules())
    fresh = TopFormerSemanticsInjection(6, 4, 8, deploy=True).eval()
    fresh.load_state_dict(sim.state_dict(), strict=True)
    torch.testing.assert_close(fresh(x_local, x_global), sim(x_local, x_global))


@pytest.mark.parametrize('mode', ['dense', 'global'])
def test_switch_to_deploy_method_and_deploy_flag(mode):
    """The backbone's own switch_to_deploy() folds every BN; TopFormer(deploy=True) loads the
    folded state dict strictly and reproduces the folded outputs."""
    model = randomize_batchnorm_stats(TopFormer('tiny', mode=mode)).eval()
    x = torch.rand(1, 3, 96, 70)
    with torch.no_grad():
        expected = model(x)
        model.switch_to_deploy()
        outs = model(x)
    assert model.deploy
    assert not any(isinstance(m, _BatchNorm) for m in model.modules())
    for out, ref in zip(outs, expected):
        torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4 * ref.abs().max().item())
    fresh = TopFormer('tiny', mode=mode, deploy=True).eval()
    fresh.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        for out, ref in zip(fresh(x), outs):
            torch.testing.assert_close(out, ref, rtol=0, atol=0)


@pytest.mark.parametrize('mode', ['dense', 'global'])
def test_switch_to_deploy_matches_eager(mode):
    model = randomize_batchnorm_stats(TopFormer('tiny', mode=mode)).eval()
    x = torch.rand(2, 3, 96, 128)
    with torch.no_grad():
        expected = model(x)
        switch_to_deploy(model)
        outs = model(x)
    assert not any(isinstance(m, _BatchNorm) for m in model.modules())
    for out, ref in zip(outs, expected):
        torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4 * ref.abs().max().item())


@pytest.mark.parametrize('in_size,out_size', [(7, 4), (63, 8), (16, 8), (5, 1), (9, 9)])
def test_onnx_pooling_path_equals_adaptive_avg_pool(in_size, out_size):
    x = torch.randn(2, 3, in_size, in_size + 2)
    matrix = TopFormerPyramidPoolAgg.bin_average_matrix
    pooled = matrix(in_size, out_size, x.dtype) @ x @ matrix(in_size + 2, out_size, x.dtype).t()
    torch.testing.assert_close(pooled, F.adaptive_avg_pool2d(x, out_size))


@pytest.mark.parametrize('mode,size', [('global', (224, 224)), ('dense', (75, 100))])
def test_onnx_export_at_non_divisible_sizes(mode, size, tmp_path):
    pytest.importorskip('onnxruntime')
    from mmhybrid.deploy import export_and_check

    # 224: the 7x7 map is pooled to 4x4, which plain ONNX adaptive pooling cannot express
    model = randomize_batchnorm_stats(TopFormer('tiny', mode=mode)).eval()
    result = export_and_check(switch_to_deploy(model), torch.rand(1, 3, *size),
                              str(tmp_path / 'topformer.onnx'))
    assert result.max_error < 1e-4


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
