# Copyright (c) mmhybrid contributors. All rights reserved.
import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from mmhybrid.models.backbones.hatnet import HATNet, TransCNN

# Classifier parameters of the authors' models (backbone + 1000-way linear) and state-dict
# entries of the classifiers (reference-models.md section 3).
CLASSIFIER_PARAMS = {
    (TransCNN, 'tiny'): 13.32, (TransCNN, 'small'): 26.54, (TransCNN, 'medium'): 48.32,
    (TransCNN, 'large'): 80.03, (HATNet, 'tiny'): 12.66, (HATNet, 'small'): 25.75,
    (HATNet, 'medium'): 42.94, (HATNet, 'large'): 63.13,
}


def _tiny_arch(**overrides):
    arch = dict(embed_dims=[16, 32, 48, 64], head_dim=16, expansions=[2, 2, 2, 2],
                grid_sizes=[4, 2, 2, 1], ds_ratios=[4, 2, 2, 1], depths=[1, 1, 2, 1],
                kernel_sizes=[3, 3, 5, 3])
    arch.update(overrides)
    return arch


@pytest.mark.parametrize('cls,arch', sorted(CLASSIFIER_PARAMS, key=str))
def test_classifier_parameter_counts(cls, arch):
    model = cls(arch)
    params = sum(p.numel() for p in model.parameters())
    params += model.embed_dims[-1] * 1000 + 1000  # the classifier's Linear
    assert round(params / 1e6, 2) == CLASSIFIER_PARAMS[(cls, arch)]


def test_state_dict_entry_counts_and_names():
    # the authors' small classifiers have 749 (TransCNN) and 364 (HAT-Net) entries, two of them
    # the classifier's weight and bias
    trans = TransCNN('small').state_dict()
    hat = HATNet('small').state_dict()
    assert len(trans) == 749 - 2 and len(hat) == 364 - 2
    for key in ('patch_embed.0.weight', 'patch_embed.1.running_var', 'patch_embed.3.weight',
                'blocks.0.0.attn.qkv.weight', 'blocks.2.7.attn.kv.bias',
                'blocks.0.0.attn.grid_norm.weight', 'blocks.0.0.attn.ds_norm.bias',
                'blocks.1.0.conv.conv1.1.running_mean', 'blocks.1.0.conv.conv2.0.weight',
                'blocks.3.2.conv.conv3.1.weight', 'ds2.conv.weight', 'ds3.residual.bias',
                'ds4.norm2.weight'):
        assert key in trans, key
    for key in ('patch_embed.1.weight', 'blocks.0.0.attn.proj_norm.weight',
                'blocks.3.0.attn.proj_norm.bias', 'blocks.0.0.conv.conv1.0.weight',
                'blocks.0.0.conv.conv1.1.weight', 'blocks.0.0.conv.conv3.1.bias',
                'ds2.conv.weight', 'ds4.norm.bias'):
        assert key in hat, key
    assert 'blocks.3.0.attn.q.weight' not in hat and 'blocks.3.0.attn.grid_norm.weight' not in trans
    assert hat['blocks.0.0.conv.conv2.0.weight'].shape == (512, 1, 3, 3)  # 64 x 8
    assert trans['blocks.0.0.conv.conv2.0.weight'].shape == (256, 1, 5, 5)


def test_norm_types():
    trans, hat = TransCNN(_tiny_arch()), HATNet(_tiny_arch())
    assert isinstance(trans.blocks[0][0].attn.norm, torch.nn.BatchNorm2d)
    gn = hat.blocks[0][0].attn.grid_norm
    assert isinstance(gn, torch.nn.GroupNorm) and gn.num_groups == 1 and gn.eps == 1e-6
    assert not any(isinstance(m, torch.nn.GroupNorm) for m in trans.modules())
    assert not any(isinstance(m, _BatchNorm) for m in hat.modules())
    assert all(isinstance(m, torch.nn.SiLU) for m in trans.modules()
               if isinstance(m, (torch.nn.ReLU, torch.nn.GELU, torch.nn.SiLU)))


def test_arch_rules_of_the_family():
    with pytest.raises(ValueError, match=r'HATNet: embed_dims\[2\]=40 is not divisible by '
                       'head_dim=16'):
        HATNet(_tiny_arch(embed_dims=[16, 32, 40, 64]))
    with pytest.raises(ValueError, match=r'HATNet: kernel_sizes\[1\]=4 must be odd'):
        HATNet(_tiny_arch(kernel_sizes=[3, 4, 3, 3]))
    with pytest.raises(ValueError, match="head_dim'] must be a positive int"):
        HATNet(_tiny_arch(head_dim=0))


def test_init_weights_follow_the_authors():
    model = HATNet(_tiny_arch())
    model.init_weights()
    conv = model.blocks[1][0].attn.qkv
    assert conv.weight.std().item() == pytest.approx(0.02, rel=0.2)
    assert torch.all(conv.bias == 0)
    assert torch.all(model.ds2.norm.weight == 1)


@pytest.mark.parametrize('cls,kwargs', [
    pytest.param(TransCNN, {}, id='TransCNN'),
    pytest.param(HATNet, {}, id='HATNet-GN'),
    pytest.param(HATNet, dict(norm_cfg=dict(type='BN')), id='HATNet-BN'),
])
def test_switch_to_deploy_keeps_only_the_grid_norms(cls, kwargs):
    """Of the norms (proj_norm aside: HAT-Net's forward never uses it), folding keeps H-MHSA's
    grid_norm in every block whose grid has more than one window (it normalises a residual sum
    that the output reuses) and every GroupNorm. (Outputs, reloading and ``deploy=True``: the
    backbone matrix.)"""
    model = cls(_tiny_arch(), **kwargs)
    group_norms = [n for n, m in model.named_modules()
                   if isinstance(m, torch.nn.GroupNorm) and 'proj_norm' not in n]
    model.switch_to_deploy()
    norms = [name for name, m in model.named_modules()
             if isinstance(m, (_BatchNorm, torch.nn.GroupNorm)) and 'proj_norm' not in name]
    if group_norms:  # HAT-Net's default: GroupNorms are never folded
        assert norms == group_norms
    else:
        grids = [f'blocks.{i}.{j}.attn.grid_norm' for i, stage in enumerate(model.blocks)
                 for j, block in enumerate(stage) if block.attn.grid_size > 1]
        assert grids and norms == grids
