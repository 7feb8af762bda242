# Copyright (c) mmhybrid contributors. All rights reserved.
"""TRT-ViT backbone: sizes, shapes at any input size, API (out_indices, feature_info, freezing,
norm_eval, drop path, init, with_cp), conv+BN folding, ``deploy=True`` and ONNX Runtime parity.

TRT-ViT has no official code; the parameter counts pinned here are those of this project's
documented re-implementation (see the TRTViT docstring), with TRT-ViT-C sized to the ~65-67 M
backbone implied by the paper's downstream tables.
"""
import io

import pytest
import torch
import torch.nn as nn
from helpers import randomize_batchnorm_stats

from mmhybrid.models.backbones.trt_vit import TRTViT
from mmhybrid.models.layers.mixblock import MixBlockA, MixBlockB, MixBlockC
from mmhybrid.models.layers.trt_blocks import TRTBottleneck, TRTTransformerBlock

#: A small arch with every structural feature of the real ones: BottleNeck-only stages, a stage
#: ending with MixBlocks (C/D stage 4), a MixBlock-only stage that downsamples (stage 5).
TINY_ARCH = dict(depths=[1, 1, 2, 2], channels=[32, 64, 128, 128], num_mix_blocks=[0, 0, 1, 2],
                 sr_ratios=[8, 4, 2, 1], kernel_sizes=[3, 3, 3, 3], stem_channels=16)

EXPECTED_PARAMS = {'a': 25_291_808, 'b': 36_194_592, 'c': 66_866_656, 'd': 78_149_024}


def _num_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize('arch', ['a', 'b', 'c', 'd'])
def test_param_counts(arch):
    assert _num_params(TRTViT(arch=arch)) == EXPECTED_PARAMS[arch]


def test_sizes_follow_the_paper():
    counts = [EXPECTED_PARAMS[a] for a in 'abcd']
    assert counts == sorted(counts) and len(set(counts)) == 4  # A < B < C < D
    assert 65e6 <= EXPECTED_PARAMS['c'] <= 67e6  # Mask R-CNN 86.3 M / Semantic FPN 70.6 M


@pytest.mark.parametrize('arch, depths, mix_per_stage', [
    ('a', [2, 4, 5, 4], [0, 0, 0, 4]),
    ('b', [3, 4, 7, 4], [0, 0, 0, 4]),
    ('c', [3, 4, 9, 6], [0, 0, 2, 6]),
    ('d', [4, 5, 9, 5], [0, 0, 2, 5]),
])
def test_stage_layout(arch, depths, mix_per_stage):
    model = TRTViT(arch=arch)
    assert [len(stage) for stage in model.stages] == depths
    for stage, num_mix in zip(model.stages, mix_per_stage):
        kinds = [type(block) for block in stage]
        # BottleNecks first, MixBlock C at the end of the stage (late Transformer).
        assert kinds == [TRTBottleneck] * (len(stage) - num_mix) + [MixBlockC] * num_mix
        assert all(block.shrink_ratio == 0.5 for block in stage if isinstance(block, MixBlockC))
    transformers = [m for m in model.modules() if isinstance(m, TRTTransformerBlock)]
    assert all(t.attn.head_dim == 32 and t.mlp[0].out_features == 3 * t.embed_dims
               for t in transformers)


def test_full_size_forward_all_outputs():
    model = TRTViT(arch='a', out_indices=(0, 1, 2, 3)).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 256, 16, 16), (1, 512, 8, 8),
                                              (1, 1024, 4, 4), (1, 1024, 2, 2)]
    assert model.feature_info == [
        dict(num_chs=256, reduction=4, module='stages.0'),
        dict(num_chs=512, reduction=8, module='stages.1'),
        dict(num_chs=1024, reduction=16, module='stages.2'),
        dict(num_chs=1024, reduction=32, module='stages.3')]


@pytest.mark.parametrize('size', [(65, 47), (50, 37), (32, 32), (33, 100), (16, 9)])
def test_any_input_size(size):
    """Strides 4/8/16/32 with ceil rounding, no padding requirement (e.g. 800x1333, 500x375)."""
    model = TRTViT(arch=TINY_ARCH, out_indices=(0, 1, 2, 3)).eval()
    with torch.no_grad():
        outs = model(torch.rand(2, 3, *size))
    h, w = size
    for index, out in enumerate(outs):
        stride = 2**(index + 2)
        assert out.shape == (2, TINY_ARCH['channels'][index], -(-h // stride), -(-w // stride))


def test_out_indices():
    """Outputs, ``out_indices`` and ``feature_info`` all in stage order, whatever the order
    given (before issue 11, ``out_indices``/``out_channels`` kept the caller's order while the
    outputs came in stage order)."""
    model = TRTViT(arch=TINY_ARCH, out_indices=(-1, 1))
    assert model.out_indices == (1, 3)
    assert [i['num_chs'] for i in model.feature_info] == [64, 128]
    assert [i['module'] for i in model.feature_info] == ['stages.1', 'stages.3']
    outs = model(torch.rand(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [64, 128]
    assert TRTViT(arch=TINY_ARCH, out_indices=2).out_indices == (2, )
    with pytest.raises(ValueError, match='out_indices'):
        TRTViT(arch=TINY_ARCH, out_indices=(4, ))
    with pytest.raises(ValueError, match='twice'):
        TRTViT(arch=TINY_ARCH, out_indices=(1, -3))
    for bad in ((), '1', (1.0, ), (True, )):
        with pytest.raises(TypeError, match='out_indices'):
            TRTViT(arch=TINY_ARCH, out_indices=bad)


def test_arch_validation():
    with pytest.raises(ValueError, match="choose one of \\['a', 'b', 'c', 'd'\\]"):
        TRTViT(arch='e')
    bad = {k: v for k, v in TINY_ARCH.items() if k != 'sr_ratios'}
    with pytest.raises(ValueError, match=r"missing \['sr_ratios'\], unknown \[\]"):
        TRTViT(arch=bad)
    with pytest.raises(ValueError, match=r"missing \[\], unknown \['width'\]"):
        TRTViT(arch={**TINY_ARCH, 'width': 3})
    with pytest.raises(ValueError, match=r"arch\['depths'\] needs 4 entries"):
        TRTViT(arch={**TINY_ARCH, 'depths': [1, 1, 1]})
    with pytest.raises(ValueError, match='num_mix_blocks'):
        TRTViT(arch={**TINY_ARCH, 'num_mix_blocks': [0, 0, 0, 3]})
    with pytest.raises(ValueError, match='multiple of the head dim'):
        TRTViT(arch={**TINY_ARCH, 'channels': [32, 64, 128, 96]})
    with pytest.raises(TypeError, match='arch must be'):
        TRTViT(arch=3)
    with pytest.raises(ValueError, match='mix_block must be one of'):
        TRTViT(arch=TINY_ARCH, mix_block='MixBlockD')
    for frozen_stages in (5, -2, 1.5, True):
        with pytest.raises(ValueError, match='frozen_stages'):
            TRTViT(arch=TINY_ARCH, frozen_stages=frozen_stages)
    assert TRTViT(arch='C').arch['channels'][-1] == 1472  # case-insensitive
    # Presets and a custom dict without the optional keys get the defaults.
    assert TRTViT.parse_arch('a')['stem_channels'] == 64
    custom = {k: v for k, v in TINY_ARCH.items() if k != 'stem_channels'}
    assert TRTViT.parse_arch(custom) == {**custom, 'stem_channels': 64, 'shrink_ratio': 0.5}


@pytest.mark.parametrize('mix_block, cls', [('MixBlockA', MixBlockA), ('MixBlockB', MixBlockB)])
def test_block_ablation(mix_block, cls):
    model = TRTViT(arch=TINY_ARCH, mix_block=mix_block)
    assert sum(isinstance(m, cls) for m in model.modules()) == 3
    assert not any(isinstance(m, MixBlockC) for m in model.modules())
    assert model(torch.rand(1, 3, 64, 64))[0].shape == (1, 128, 2, 2)


def test_frozen_stages_and_norm_eval():
    model = TRTViT(arch=TINY_ARCH, frozen_stages=2, norm_eval=False)
    frozen = [model.stem, model.stages[0], model.stages[1]]
    # Frozen from construction on, not only after .train().
    assert all(not p.requires_grad for module in frozen for p in module.parameters())
    model.train()
    for module in frozen:
        assert all(not p.requires_grad for p in module.parameters())
        assert all(not m.training for m in module.modules())
    assert all(p.requires_grad for p in model.stages[2].parameters())
    assert model.stages[2].training

    model = TRTViT(arch=TINY_ARCH, norm_eval=True)
    model.train()
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(not m.training for m in bns)
    assert model.stages[3][0].transformer.training  # only BN is kept in eval mode


def test_drop_path_rates_rise_linearly():
    model = TRTViT(arch=TINY_ARCH, drop_path_rate=0.3)
    rates = []
    for stage in model.stages:
        for block in stage:
            drop = block.drop_path if isinstance(block, TRTBottleneck) else \
                block.transformer.drop_path
            rates.append(getattr(drop, 'drop_prob', 0.))
    torch.testing.assert_close(torch.tensor(rates), torch.linspace(0, 0.3, 6))
    for rate in (1.0, -0.1):
        with pytest.raises(ValueError, match='drop_path_rate'):
            TRTViT(arch=TINY_ARCH, drop_path_rate=rate)


def test_init_weights_zero_init_residual():
    model = TRTViT(arch=TINY_ARCH)
    model.init_weights()
    for m in model.modules():
        if isinstance(m, TRTBottleneck):
            assert torch.all(m.conv3.bn.weight == 0)
    model = TRTViT(arch=TINY_ARCH, zero_init_residual=False)
    model.init_weights()
    assert torch.all(model.stages[0][0].conv3.bn.weight == 1)
    TRTViT(arch=TINY_ARCH, deploy=True).init_weights()  # no BN to zero: nothing to do


def test_with_cp_checkpoints_every_block(monkeypatch):
    """Every block (stem aside) runs through ``run_block``, so ``with_cp`` covers them all.
    (Output and gradient equality is checked by the backbone matrix.)"""
    model = TRTViT(arch=TINY_ARCH, with_cp=True)
    seen = []
    original = TRTViT.run_block
    monkeypatch.setattr(TRTViT, 'run_block',
                        lambda self, block, *x: seen.append(block) or original(self, block, *x))
    model(torch.rand(2, 3, 32, 32))
    assert seen == [block for stage in model.stages for block in stage]


def test_switch_to_deploy_matches_eager():
    model = TRTViT(arch=TINY_ARCH, out_indices=(0, 1, 2, 3))
    randomize_batchnorm_stats(model)
    model.eval()
    x = torch.rand(2, 3, 70, 54)
    with torch.no_grad():
        expected = model(x)
        keys = set(model.state_dict())
        model.switch_to_deploy()
        assert model.deploy and not model.training
        assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
        assert {k for k in model.state_dict() if not k.endswith('conv.bias')} == \
            {k for k in keys if '.bn.' not in k}
        for out, ref in zip(model(x), expected):
            torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)
        model.switch_to_deploy()  # idempotent


@pytest.mark.parametrize('mix_block', ['MixBlockA', 'MixBlockB', 'MixBlockC'])
def test_deploy_flag_loads_the_folded_state_dict(mix_block):
    """``TRTViT(deploy=True)`` is the folded model: a state dict saved after
    ``switch_to_deploy()`` loads strictly and reproduces the folded outputs."""
    model = TRTViT(arch=TINY_ARCH, mix_block=mix_block, out_indices=(0, 1, 2, 3)).double()
    randomize_batchnorm_stats(model)
    model.switch_to_deploy()
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    fresh = TRTViT(arch=TINY_ARCH, mix_block=mix_block, out_indices=(0, 1, 2, 3),
                   deploy=True).double().eval()
    assert fresh.deploy and not any(isinstance(m, nn.BatchNorm2d) for m in fresh.modules())
    fresh.load_state_dict(torch.load(buffer), strict=True)
    x = torch.rand(1, 3, 45, 38, dtype=torch.float64)
    with torch.no_grad():
        for out, ref in zip(fresh(x), model(x)):
            torch.testing.assert_close(out, ref, rtol=0, atol=0)
    fresh.switch_to_deploy()  # already folded: nothing to do
    with pytest.raises(ValueError, match='BatchNorm'):
        TRTViT(arch=TINY_ARCH, norm_cfg=dict(type='GN', num_groups=4), deploy=True)


def _assert_onnx_parity(model: nn.Module, x: torch.Tensor, path) -> None:
    """Fold BN, export (opset 17) and compare onnxruntime with PyTorch to 1e-4 relative."""
    pytest.importorskip('onnxruntime')
    pytest.importorskip('onnx')
    from mmhybrid.deploy import export_and_check
    model.switch_to_deploy()
    result = export_and_check(model, x, str(path))  # raises OnnxParityError beyond 1e-4
    assert result.passed and len(result.errors[tuple(x.shape)]) == len(model.out_indices)


def test_onnx_export_tiny_all_blocks(tmp_path):
    for mix_block in ('MixBlockA', 'MixBlockB', 'MixBlockC'):
        model = TRTViT(arch=TINY_ARCH, mix_block=mix_block, out_indices=(0, 1, 2, 3))
        randomize_batchnorm_stats(model)
        _assert_onnx_parity(model, torch.rand(1, 3, 64, 48), tmp_path / f'{mix_block}.onnx')


def test_onnx_dynamic_export_at_sizes_needing_padding(tmp_path):
    """Exported at 64x64 (no key/value padding needed), run at 80x112 (stage-4 map 5x7: padded)."""
    pytest.importorskip('onnxruntime')
    from mmhybrid.deploy import export_and_check
    model = TRTViT(arch=TINY_ARCH, out_indices=(0, 1, 2, 3))
    randomize_batchnorm_stats(model)
    model.switch_to_deploy()
    result = export_and_check(model, torch.rand(1, 3, 64, 64), str(tmp_path / 'dyn.onnx'),
                              dynamic=True, extra_shape=(80, 112))
    assert result.passed and (2, 3, 80, 112) in result.errors


def test_onnx_export_full_size_a(tmp_path):
    model = TRTViT(arch='a', out_indices=(0, 1, 2, 3))
    randomize_batchnorm_stats(model)
    _assert_onnx_parity(model, torch.rand(1, 3, 64, 64), tmp_path / 'trt-vit-a.onnx')


@pytest.mark.slow
@pytest.mark.parametrize('arch', ['b', 'c', 'd'])
def test_onnx_export_full_size(tmp_path, arch):
    model = TRTViT(arch=arch, out_indices=(0, 1, 2, 3))
    randomize_batchnorm_stats(model)
    _assert_onnx_parity(model, torch.rand(1, 3, 64, 64), tmp_path / f'trt-vit-{arch}.onnx')


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg', 'mmpretrain'])
def test_build_from_downstream_registries(scope):
    try:
        registry = __import__(f'{scope}.registry', fromlist=['MODELS']).MODELS
    except (ImportError, AssertionError) as exc:
        pytest.skip(f'{scope} unusable: {exc}')
    for type_name in ('mmhybrid.TRTViT', 'TRTViT'):
        model = registry.build(dict(type=type_name, arch=TINY_ARCH))
        assert isinstance(model, TRTViT)
