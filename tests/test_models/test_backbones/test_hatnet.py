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
    with pytest.raises(ValueError, match='out of range'):
        HATNet(_tiny_arch(), out_indices=(4, ))


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
    with pytest.raises(TypeError, match='must be a str or a dict'):
        HATNet(3)
    assert TransCNN('Tiny').arch['depths'] == [2, 2, 4, 2]


def test_frozen_stages_and_norm_eval():
    with pytest.raises(ValueError, match='frozen_stages'):
        TransCNN(_tiny_arch(), frozen_stages=5)
    model = TransCNN(_tiny_arch(), frozen_stages=2, norm_eval=True)
    model.train()
    frozen = [model.patch_embed, model.blocks[0], model.ds2, model.blocks[1]]
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
def test_with_cp_gives_same_outputs_and_gradients(cls):
    torch.manual_seed(0)
    plain = cls(_tiny_arch(), drop_path_rate=0.)
    checkpointed = cls(_tiny_arch(), drop_path_rate=0., with_cp=True)
    checkpointed.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 40, 40)
    grads = []
    for model in (plain, checkpointed):
        model.train()
        loss = sum(o.square().mean() for o in model(x))
        loss.backward()
        grads.append(model.patch_embed[0].weight.grad.clone())
    torch.testing.assert_close(grads[0], grads[1])


def test_drop_path_rates_increase_linearly():
    model = TransCNN(_tiny_arch(), drop_path_rate=0.5)
    rates = [getattr(block.drop_path, 'drop_prob', 0.) for stage in model.blocks for block in stage]
    torch.testing.assert_close(torch.tensor(rates), torch.linspace(0, 0.5, 5))


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


@pytest.mark.parametrize('cls', [TransCNN, HATNet])
def test_switch_to_deploy_folds_every_bn_exactly(cls):
    from mmhybrid.analysis import randomise_bn_statistics
    from mmhybrid.models.utils import switch_to_deploy
    torch.manual_seed(0)
    model = randomise_bn_statistics(cls(_tiny_arch(), drop_path_rate=0.)).eval()
    x = torch.randn(1, 3, 40, 56)
    with torch.no_grad():
        expected = model(x)
        switch_to_deploy(model)
        got = model(x)
    # TransCNN's two-branch downsampling has two BNs after two convs: each in its own conv.
    assert not any(isinstance(m, _BatchNorm) for name, m in model.named_modules()
                   if name.startswith('ds'))
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-5)
