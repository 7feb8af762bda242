# Copyright (c) mmhybrid contributors. All rights reserved.
"""TRT-ViT backbone: sizes, stage layout, the MixBlock ablations, its arch rules, zero-init
residuals and what folding removes. (The backbone contract: ``test_backbone_matrix.py``; ONNX:
``tests/test_deploy/test_onnx.py``.)

TRT-ViT has no official code; the parameter counts pinned here are those of this project's
documented re-implementation (see the TRTViT docstring), with TRT-ViT-C sized to the ~65-67 M
backbone implied by the paper's downstream tables.
"""

import pytest
import torch
import torch.nn as nn

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


def test_feature_info_of_a():
    assert TRTViT(arch='a', out_indices=(0, 1, 2, 3)).feature_info == [
        dict(num_chs=256, reduction=4, module='stages.0'),
        dict(num_chs=512, reduction=8, module='stages.1'),
        dict(num_chs=1024, reduction=16, module='stages.2'),
        dict(num_chs=1024, reduction=32, module='stages.3')]


def test_arch_rules_of_the_family():
    with pytest.raises(ValueError, match='num_mix_blocks'):
        TRTViT(arch={**TINY_ARCH, 'num_mix_blocks': [0, 0, 0, 3]})
    with pytest.raises(ValueError, match='multiple of the head dim'):
        TRTViT(arch={**TINY_ARCH, 'channels': [32, 64, 128, 96]})
    with pytest.raises(ValueError, match='mix_block must be one of'):
        TRTViT(arch=TINY_ARCH, mix_block='MixBlockD')
    assert TRTViT(arch='C').arch['channels'][-1] == 1472
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


def test_switch_to_deploy_turns_every_conv_bn_into_a_biased_conv():
    """Every BatchNorm goes into the conv before it. (Outputs, reloading and ``deploy=True``:
    the backbone matrix.)"""
    model = TRTViT(arch=TINY_ARCH, out_indices=(0, 1, 2, 3))
    keys = set(model.state_dict())
    model.switch_to_deploy()
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert {k for k in model.state_dict() if not k.endswith('conv.bias')} == \
        {k for k in keys if '.bn.' not in k}
