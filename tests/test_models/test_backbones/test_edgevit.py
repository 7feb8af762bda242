# Copyright (c) mmhybrid contributors. All rights reserved.
import pytest
import torch
import torch.nn as nn
from helpers import randomize_batchnorm_stats
from mmengine.registry import init_default_scope

from mmhybrid.models import EdgeViT
from mmhybrid.models.backbones import edgevit as edgevit_module
from mmhybrid.models.layers import lgl as lgl_module

TINY_ARCH = dict(depths=[1, 1, 2, 1], embed_dims=[8, 16, 24, 32], num_heads=[1, 2, 3, 4],
                 mlp_ratios=[2, 2, 2, 2], sr_ratios=[4, 2, 2, 1])

# Parameter counts of the authors' models (their file, ImageNet classifier with 1000 classes)
# and of the backbone alone (no final BatchNorm, no head).
CLASSIFIER_PARAMS = {'xxs': 4_067_704, 'xs': 6_770_056, 's': 13_108_168}
BACKBONE_PARAMS = {'xxs': 3_778_128, 'xs': 6_384_288, 's': 12_722_400}


def count(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize('arch', ['xxs', 'xs', 's'])
def test_backbone_parameter_counts(arch):
    assert count(EdgeViT(arch)) == BACKBONE_PARAMS[arch]
    assert count(EdgeViT(arch, final_norm=True)) == BACKBONE_PARAMS[arch] + 2 * (
        EdgeViT.arch_settings[arch]['embed_dims'][-1])


@pytest.mark.parametrize('arch, rounded', [('xxs', 4.07), ('xs', 6.77), ('s', 13.11)])
def test_classifier_parameter_counts(arch, rounded):
    from mmpretrain.registry import MODELS as PRETRAIN_MODELS
    init_default_scope('mmpretrain')  # the build resolves names in the current default scope
    channels = EdgeViT.arch_settings[arch]['embed_dims'][-1]
    model = PRETRAIN_MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='mmhybrid.EdgeViT', arch=arch, final_norm=True),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=1000, in_channels=channels)))
    assert count(model) == CLASSIFIER_PARAMS[arch]
    assert round(count(model) / 1e6, 2) == rounded


def test_state_dict_keys_follow_the_authors_layout():
    model = EdgeViT('s', final_norm=True)
    keys = set(model.state_dict())
    assert len(keys) + 2 == 385  # the authors' EdgeViT-S has 385 entries incl. head.{weight,bias}
    assert 'blocks1.0.LocalAgg.norm1.running_var' in keys
    assert 'blocks3.4.SelfAttn.attn.LocalProp.weight' in keys
    assert 'blocks3.4.SelfAttn.attn.norm.bias' in keys
    assert not any(k.startswith('blocks4.') and ('LocalAgg' in k or 'LocalProp' in k)
                   for k in keys)
    assert {'patch_embed1.proj.weight', 'patch_embed4.norm.bias', 'norm.running_mean'} <= keys


def test_quirks_of_the_authors_code():
    model = EdgeViT('xxs', final_norm=True)
    assert model.patch_embed1.proj.kernel_size == (4, 4)
    assert model.patch_embed1.proj.bias is not None
    assert model.patch_embed2.proj.stride == (2, 2)
    assert model.patch_embed1.norm.eps == 1e-5
    block = model.blocks1[0]
    assert block.SelfAttn.norm1.eps == 1e-6 and block.SelfAttn.attn.norm.eps == 1e-5
    assert block.SelfAttn.attn.sr_ratio == 4
    assert [model.blocks3[0].SelfAttn.attn.num_heads, model.blocks4[0].SelfAttn.attn.num_heads] \
        == [4, 8]
    assert isinstance(model.blocks4[0].LocalAgg, nn.Identity)
    assert isinstance(model.norm, nn.BatchNorm2d)


@pytest.mark.parametrize('final_norm, last_module', [(False, 'blocks4'), (True, 'norm')])
def test_feature_info_names_the_final_norm(final_norm, last_module):
    """The last output comes from the classifier's final norm when it is built."""
    model = EdgeViT(TINY_ARCH, out_indices=(3, 0), final_norm=final_norm)
    assert [i['module'] for i in model.feature_info] == ['blocks1', last_module]


@pytest.mark.parametrize('size', [224, 512])
def test_no_padding_or_cropping_at_multiples_of_32(size, monkeypatch):
    """At 224/512 the any-size machinery must be a no-op: the authors' computation exactly."""
    model = EdgeViT(TINY_ARCH, final_norm=True).eval()
    randomize_batchnorm_stats(model)
    x = torch.rand(1, 3, size, size)
    expected = model(x)

    def pad_must_be_noop(t, divisor):
        assert t.shape[-2] % divisor == 0 and t.shape[-1] % divisor == 0
        return t, (0, 0)

    def crop_must_be_noop(t, h, w):
        assert t.shape[-2:] == (h, w)
        return t

    monkeypatch.setattr(edgevit_module, 'pad_to_multiple', pad_must_be_noop)
    monkeypatch.setattr(lgl_module, 'crop_to', crop_must_be_noop)
    for got, exp in zip(model(x), expected):
        assert torch.equal(got, exp)


def test_final_norm_only_on_last_stage():
    model = EdgeViT(TINY_ARCH, final_norm=True).eval()
    randomize_batchnorm_stats(model)
    plain = EdgeViT(TINY_ARCH).eval()
    plain.load_state_dict({k: v for k, v in model.state_dict().items()
                           if not k.startswith('norm.')})
    x = torch.rand(1, 3, 64, 64)
    normed, raw = model(x), plain(x)
    for i in range(3):
        assert torch.equal(normed[i], raw[i])
    assert torch.allclose(normed[3], model.norm(raw[3]))
    assert not torch.allclose(normed[3], raw[3])


def test_frozen_stages_4_freeze_the_final_norm():
    model = EdgeViT(TINY_ARCH, frozen_stages=4, final_norm=True).train()
    assert not any(p.requires_grad for p in model.parameters())
    assert not model.norm.training


def test_init_weights_follows_authors_scheme():
    model = EdgeViT(TINY_ARCH)
    model.init_weights()
    fc1 = model.blocks4[0].SelfAttn.mlp.fc1  # 64 x 32 weights
    assert torch.all(fc1.bias == 0) and 0.015 < fc1.weight.std() < 0.025
    assert torch.all(model.patch_embed1.norm.weight == 1)


def test_heads_must_divide_the_width():
    with pytest.raises(ValueError, match='stage 1: embed_dims 16 is not divisible by num_heads 3'):
        EdgeViT(dict(TINY_ARCH, num_heads=[1, 3, 3, 4]))


def test_switch_to_deploy_folds_only_the_local_aggregation_norms():
    """Only the LocalAgg BatchNorms vanish (the 1x1 convs after them already have biases); the
    classifier's final norm stays. (Outputs and reloading: the backbone matrix.)"""
    model = EdgeViT(TINY_ARCH, final_norm=True)
    keys = set(model.state_dict())
    model.switch_to_deploy()
    assert keys - set(model.state_dict()) == {
        k for k in keys if '.LocalAgg.norm1.' in k or '.LocalAgg.norm2.' in k}
    assert set(model.state_dict()) <= keys
    assert isinstance(model.norm, nn.BatchNorm2d)


@pytest.mark.parametrize('arch, gflops', [
    ('xxs', 0.557),
    pytest.param('xs', 1.136, marks=pytest.mark.slow),
    pytest.param('s', 1.923, marks=pytest.mark.slow),
])
def test_classifier_flops_match_the_authors_model(arch, gflops):
    """fvcore counts of the authors' classifier at 224x224 (multiply-accumulates)."""
    from mmengine.analysis import FlopAnalyzer

    from mmhybrid.analysis import sdpa_flop_jit

    class Classifier(nn.Module):

        def __init__(self):
            super().__init__()
            self.backbone = EdgeViT(arch, final_norm=True, out_indices=3)
            self.head = nn.Linear(self.backbone.embed_dims[-1], 1000)

        def forward(self, x):
            return self.head(self.backbone(x)[0].flatten(2).mean(-1))

    analyzer = FlopAnalyzer(Classifier().eval(), (torch.rand(1, 3, 224, 224), ))
    analyzer.set_op_handle('aten::scaled_dot_product_attention', sdpa_flop_jit)
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    assert round(analyzer.total() / 1e9, 3) == gflops


@pytest.mark.parametrize('config, scope, millions', [
    ('retinanet_edgevit-xxs_fpn_1x_coco.py', 'mmdet', 13.40),
    ('mask-rcnn_edgevit-xxs_fpn_1x_coco.py', 'mmdet', 23.82),
    ('fpn_edgevit-xxs_4xb4-80k_ade20k-512x512.py', 'mmseg', 7.92),
])
def test_downstream_config_parameter_counts(config, scope, millions):
    """Detector/segmentor sizes recomputed from the authors' backbone + stock necks/heads."""
    import importlib
    import os.path as osp

    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    root = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
    cfg = Config.fromfile(osp.join(root, 'configs', 'edgevit', config))
    importlib.import_module(f'{scope}.utils').register_all_modules(init_default_scope=False)
    registry = importlib.import_module(f'{scope}.registry').MODELS
    with DefaultScope.overwrite_default_scope(scope):
        model = registry.build(cfg.model)
    assert round(count(model) / 1e6, 2) == millions
