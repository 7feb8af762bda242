# Copyright (c) mmhybrid contributors. All rights reserved.
import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.checkpoint import checkpoint

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


@pytest.mark.parametrize('cls', [TransCNN, HATNet])
@pytest.mark.parametrize('size,expected', [((64, 64), [16, 8, 4, 2]),
                                           ((50, 75), [(13, 19), (7, 10), (4, 5), (2, 3)])])
def test_output_shapes_any_size(cls, size, expected):
    model = cls(_tiny_arch()).eval()
    with torch.no_grad():
        outs = model(torch.randn(2, 3, *size))
    assert len(outs) == 4
    for out, channels, spatial in zip(outs, [16, 32, 48, 64], expected):
        spatial = (spatial, spatial) if isinstance(spatial, int) else spatial
        assert out.shape == (2, channels, *spatial)


@pytest.mark.parametrize('cls', [TransCNN, HATNet])
def test_full_arch_runs_on_sizes_the_authors_reject(cls):
    model = cls('tiny', out_indices=(-1, )).eval()
    with torch.no_grad():
        (out, ) = model(torch.randn(1, 3, 72, 40))
    assert out.shape == (1, model.embed_dims[-1], 3, 2)
    assert torch.isfinite(out).all()


def test_out_indices():
    model = HATNet(_tiny_arch(), out_indices=(-1, 1)).eval()
    assert model.out_indices == (1, 3)
    outs = model(torch.randn(1, 3, 32, 32))
    assert [o.shape[1] for o in outs] == [32, 64]
    assert [i['num_chs'] for i in model.feature_info] == [32, 64]
    assert [i['reduction'] for i in model.feature_info] == [8, 32]
    assert [i['module'] for i in model.feature_info] == ['blocks.1', 'blocks.3']
    with pytest.raises(ValueError, match='out of range'):
        HATNet(_tiny_arch(), out_indices=(4, ))
    # one rule for every backbone: nothing selected, a duplicate or a non-int is an error
    with pytest.raises(TypeError, match='non-empty'):
        HATNet(_tiny_arch(), out_indices=())
    with pytest.raises(ValueError, match='twice'):
        TransCNN(_tiny_arch(), out_indices=(1, -3))
    with pytest.raises(TypeError, match='ints'):
        TransCNN(_tiny_arch(), out_indices=('1', ))


def test_arch_validation():
    with pytest.raises(ValueError, match=r"unknown arch 'huge'.*'large'"):
        TransCNN('huge')
    with pytest.raises(ValueError, match=r"missing \['depths'\]"):
        arch = _tiny_arch()
        del arch['depths']
        HATNet(arch)
    with pytest.raises(ValueError, match='needs 4 entries'):
        HATNet(_tiny_arch(depths=[1, 1, 1]))
    with pytest.raises(ValueError, match='not divisible by head_dim'):
        HATNet(_tiny_arch(embed_dims=[16, 32, 40, 64]))
    with pytest.raises(ValueError, match='must be odd'):
        HATNet(_tiny_arch(kernel_sizes=[3, 4, 3, 3]))
    with pytest.raises(ValueError, match="head_dim'] must be a positive int"):
        HATNet(_tiny_arch(head_dim=0))
    with pytest.raises(TypeError, match='must be a str or a dict'):
        HATNet(3)
    assert TransCNN('Tiny').arch['depths'] == [2, 2, 4, 2]


def test_frozen_stages_and_norm_eval():
    for bad in (5, -2, 1.5, True):
        with pytest.raises(ValueError, match='frozen_stages'):
            TransCNN(_tiny_arch(), frozen_stages=bad)
    model = TransCNN(_tiny_arch(), frozen_stages=2, norm_eval=True)
    frozen = [model.patch_embed, model.blocks[0], model.ds2, model.blocks[1]]
    # frozen from construction on, not only after .train()
    for module in frozen:
        assert all(not p.requires_grad for p in module.parameters())
        assert all(not m.training for m in module.modules())
    model.train()
    for module in frozen:
        assert all(not p.requires_grad for p in module.parameters())
        assert all(not m.training for m in module.modules())
    for module in (model.ds3, model.blocks[2], model.ds4, model.blocks[3]):
        assert all(p.requires_grad for p in module.parameters())
    assert all(not m.training for m in model.modules() if isinstance(m, _BatchNorm))
    assert model.blocks[2][0].conv.drop.training

    stem_only = HATNet(_tiny_arch(), frozen_stages=0)
    stem_only.train()
    assert all(not p.requires_grad for p in stem_only.patch_embed.parameters())
    assert all(p.requires_grad for p in stem_only.blocks[0].parameters())


@pytest.mark.parametrize('cls', [TransCNN, HATNet])
@pytest.mark.parametrize('frozen_stages', [-1, 1])
def test_with_cp_gives_same_outputs_and_gradients(cls, frozen_stages, monkeypatch):
    import mmhybrid.models.backbones.base_backbone as base
    calls = []
    monkeypatch.setattr(base, 'checkpoint',
                        lambda *args, **kwargs: calls.append(1) or checkpoint(*args, **kwargs))
    torch.manual_seed(0)
    plain = cls(_tiny_arch(), drop_path_rate=0., frozen_stages=frozen_stages).double()
    checkpointed = cls(_tiny_arch(), drop_path_rate=0., frozen_stages=frozen_stages,
                       with_cp=True).double()
    checkpointed.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 40, 40, dtype=torch.float64)
    results = []
    for model in (plain, checkpointed):
        model.train()
        outs = model(x)
        sum((o * torch.randn_like(o, generator=torch.Generator().manual_seed(i))).sum()
            for i, o in enumerate(outs)).backward()
        results.append(([o.detach() for o in outs],
                        {name: p.grad for name, p in model.named_parameters()}))
    assert len(calls) == 5  # every block of the checkpointed model, none of the plain one
    (outs_a, grads_a), (outs_b, grads_b) = results
    for a, b in zip(outs_a, outs_b):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert grads_a.keys() == grads_b.keys()
    for name, grad in grads_a.items():
        # no gradient exactly where expected: frozen stages and HAT-Net's unused proj_norm
        assert (grad is None) == (grads_b[name] is None), name
        if grad is not None:
            torch.testing.assert_close(grad, grads_b[name], rtol=1e-12, atol=1e-14, msg=name)
    learning = [name for name, p in plain.named_parameters() if p.requires_grad
                and 'proj_norm' not in name]
    assert learning and all(grads_a[name] is not None for name in learning)


def test_drop_path_rates_increase_linearly():
    model = TransCNN(_tiny_arch(), drop_path_rate=0.5)
    rates = [getattr(block.drop_path, 'drop_prob', 0.) for stage in model.blocks for block in stage]
    torch.testing.assert_close(torch.tensor(rates), torch.linspace(0, 0.5, 5))
    for bad in (1.0, -0.1):
        with pytest.raises(ValueError, match=r'drop_path_rate must be a number in \[0, 1\)'):
            HATNet(_tiny_arch(), drop_path_rate=bad)


def test_init_weights_follow_the_authors():
    model = HATNet(_tiny_arch())
    model.init_weights()
    conv = model.blocks[1][0].attn.qkv
    assert conv.weight.std().item() == pytest.approx(0.02, rel=0.2)
    assert torch.all(conv.bias == 0)
    assert torch.all(model.ds2.norm.weight == 1)


def test_registered_and_mirrored():
    from mmhybrid.registry import MODELS
    assert MODELS.get('TransCNN') is TransCNN and MODELS.get('HATNet') is HATNet
    model = MODELS.build(dict(type='HATNet', arch=_tiny_arch(), out_indices=(3, )))
    assert isinstance(model, HATNet)


_DEPLOY_CASES = [
    pytest.param(TransCNN, {}, id='TransCNN'),
    pytest.param(HATNet, {}, id='HATNet-GN'),
    # HAT-Net with BN: the pre-norm IRB folds its first norm into the following 1x1 conv
    pytest.param(HATNet, dict(norm_cfg=dict(type='BN')), id='HATNet-BN'),
]


@pytest.mark.parametrize('cls,kwargs', _DEPLOY_CASES)
def test_switch_to_deploy_folds_every_exact_bn(cls, kwargs):
    from mmhybrid.tasks import randomise_bn_statistics
    torch.manual_seed(0)
    model = randomise_bn_statistics(cls(_tiny_arch(), drop_path_rate=0., **kwargs)).eval()
    model.double()
    x = torch.randn(1, 3, 40, 56, dtype=torch.float64)
    with torch.no_grad():
        expected = model(x)
        model.switch_to_deploy()
        got = model(x)
        model.switch_to_deploy()  # idempotent
        again = model(x)
    assert model.deploy and not model.training
    # Only H-MHSA's grid_norm (it normalises a residual sum that the output reuses) is left,
    # and HAT-Net's proj_norm, which no forward uses (kept for its checkpoint keys); GroupNorms
    # are never folded.
    norms = [name for name, m in model.named_modules()
             if isinstance(m, (_BatchNorm, torch.nn.GroupNorm)) and 'proj_norm' not in name]
    left = [name for name in norms if isinstance(model.get_submodule(name), _BatchNorm)]
    assert all(name.endswith('.attn.grid_norm') for name in left), left
    if cls is HATNet and not kwargs:
        assert len(norms) == len([n for n, m in cls(_tiny_arch()).named_modules()
                                  if isinstance(m, torch.nn.GroupNorm) and 'proj_norm' not in n])
    else:
        assert len(left) == len(norms) == sum(b.attn.grid_size > 1
                                              for stage in model.blocks for b in stage)
    for g, e, a in zip(got, expected, again):
        torch.testing.assert_close(g, e, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(a, g, rtol=0, atol=0)


@pytest.mark.parametrize('cls,kwargs', _DEPLOY_CASES)
def test_deploy_flag_loads_the_folded_state_dict(cls, kwargs):
    from mmhybrid.tasks import randomise_bn_statistics
    torch.manual_seed(0)
    folded = randomise_bn_statistics(cls(_tiny_arch(), **kwargs)).eval()
    folded.switch_to_deploy()
    fresh = cls(_tiny_arch(), deploy=True, **kwargs).eval()
    assert fresh.deploy
    fresh.load_state_dict(folded.state_dict(), strict=True)
    fresh.switch_to_deploy()  # a deploy model is already folded: a no-op
    x = torch.randn(1, 3, 37, 50)
    with torch.no_grad():
        for a, b in zip(fresh(x), folded(x)):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
