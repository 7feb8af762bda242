# Copyright (c) mmhybrid contributors. All rights reserved.
import math

import pytest
import torch
import torch.nn.functional as F
from helpers import randomize_batchnorm_stats

from mmhybrid.models.layers.hmhsa import HMHSA


def _heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(C, N) with channels head-major -> (heads, N, head_dim)."""
    channels, tokens = x.shape
    return x.reshape(num_heads, channels // num_heads, tokens).transpose(1, 2)


def _softmax_attention(q, k, v):
    scale = q.shape[-1]**-0.5
    return torch.softmax(q @ k.transpose(-2, -1) * scale, dim=-1) @ v


@torch.no_grad()
def naive_hmhsa(module: HMHSA, x: torch.Tensor) -> torch.Tensor:
    """The paper's H-MHSA written with explicit loops over images and (clipped) windows.

    Windows at the bottom/right border are simply smaller and border pooling cells average only
    the pixels they cover, which is what the module's masked padding must reproduce.
    """
    heads, g, r = module.num_heads, module.grid_size, module.ds_ratio
    _, channels, height, width = x.shape
    qkv = module.qkv(module.norm(x))
    out = torch.empty_like(x)
    if g > 1:
        local = torch.empty_like(x)
        for b in range(x.shape[0]):
            for top in range(0, height, g):
                for left in range(0, width, g):
                    win = qkv[b, :, top:top + g, left:left + g]
                    wh, ww = win.shape[-2:]
                    q, k, v = (_heads(t.reshape(channels, -1), heads)
                               for t in win.reshape(3, channels, wh, ww))
                    o = _softmax_attention(q, k, v)  # heads, n, d
                    local[b, :, top:top + g, left:left + g] = o.transpose(1, 2).reshape(
                        channels, wh, ww)
        grid_x = module.grid_norm(x + local)
        q_map = module.q(grid_x)
        pooled = torch.stack([
            torch.stack([
                grid_x[:, :, i:i + r, j:j + r].mean(dim=(-2, -1))
                for j in range(0, width, r)
            ], dim=-1) for i in range(0, height, r)
        ], dim=-2)
        kv = module.kv(module.ds_norm(pooled))
        for b in range(x.shape[0]):
            q = _heads(q_map[b].reshape(channels, -1), heads)
            k, v = (_heads(t.reshape(channels, -1), heads) for t in kv[b].reshape(2, channels, -1))
            out[b] = _softmax_attention(q, k, v).transpose(1, 2).reshape(channels, height, width)
        out = out + grid_x
    else:
        for b in range(x.shape[0]):
            q, k, v = (_heads(t.reshape(channels, -1), heads)
                       for t in qkv[b].reshape(3, channels, height, width))
            out[b] = _softmax_attention(q, k, v).transpose(1, 2).reshape(channels, height, width)
    return module.proj(out)


def _randomise_norms(module):
    """Random BatchNorms (the shared helper) and random GroupNorm affine parameters."""
    randomize_batchnorm_stats(module)
    for m in module.modules():
        if isinstance(m, torch.nn.GroupNorm):
            torch.nn.init.uniform_(m.weight, 0.5, 1.5)
            torch.nn.init.uniform_(m.bias, -0.5, 0.5)


@pytest.mark.parametrize('norm_cfg', [dict(type='BN'), dict(type='GN', num_groups=1, eps=1e-6)])
@pytest.mark.parametrize('size', [(16, 24), (13, 22), (7, 9)])
@pytest.mark.parametrize('grid_size,ds_ratio', [(8, 4), (4, 2), (1, 1)])
def test_hmhsa_matches_naive_reference(norm_cfg, size, grid_size, ds_ratio):
    module = HMHSA(32, head_dim=8, grid_size=grid_size, ds_ratio=ds_ratio, norm_cfg=norm_cfg,
                   add_identity=False)
    module.init_weights()
    _randomise_norms(module)
    module.eval()
    x = torch.randn(2, 32, *size)
    expected = naive_hmhsa(module, x)
    with torch.no_grad():
        actual = module(x)
    assert actual.shape == x.shape
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-5)


def test_hmhsa_qkv_layout_is_qkv_major_then_heads():
    """Swapping the two heads consistently in the [3][heads][head_dim] qkv layout (and in
    proj's input) must leave the output unchanged, which holds only if the module reads the
    channels as all queries, then all keys, then all values, each head-major."""
    module = HMHSA(16, head_dim=8, grid_size=1, add_identity=False).eval()
    x = torch.randn(1, 16, 5, 5)
    with torch.no_grad():
        reference = module(x)
        perm = torch.cat([torch.arange(8, 16), torch.arange(0, 8)])
        full = torch.cat([perm, perm + 16, perm + 32])
        module.qkv.weight.copy_(module.qkv.weight[full])
        module.qkv.bias.copy_(module.qkv.bias[full])
        module.proj.weight.copy_(module.proj.weight[:, perm])
        torch.testing.assert_close(module(x), reference, rtol=1e-5, atol=1e-6)


def test_hmhsa_add_identity():
    module = HMHSA(32, head_dim=16, grid_size=4, ds_ratio=2).eval()
    x = torch.randn(1, 32, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(module(x), x + module.attention(x))


def test_hmhsa_windows_mostly_padding_stay_finite():
    module = HMHSA(32, head_dim=16, grid_size=8, ds_ratio=8).eval()
    with torch.no_grad():
        assert torch.isfinite(module(torch.randn(1, 32, 9, 1))).all()


def test_hmhsa_gradients_flow_and_proj_norm_unused():
    module = HMHSA(16, head_dim=8, grid_size=2, ds_ratio=2, with_proj_norm=True)
    module(torch.randn(2, 16, 6, 6)).sum().backward()
    assert module.proj_norm.weight.grad is None
    assert all(p.grad is not None for n, p in module.named_parameters()
               if not n.startswith('proj_norm'))


def test_hmhsa_parameter_count():
    module = HMHSA(64, head_dim=32, grid_size=8, ds_ratio=4, with_proj_norm=True)
    c = 64
    convs = (3 * c * c + 3 * c) + (c * c + c) + (c * c + c) + (2 * c * c + 2 * c)
    norms = 4 * 2 * c  # norm, proj_norm, grid_norm, ds_norm
    assert sum(p.numel() for p in module.parameters()) == convs + norms
    assert set(dict(module.named_children())) == {
        'norm', 'qkv', 'proj', 'proj_norm', 'drop', 'grid_norm', 'pool', 'ds_norm', 'q', 'kv'}
    global_only = HMHSA(64, head_dim=32)
    assert not hasattr(global_only, 'q') and not hasattr(global_only, 'proj_norm')
    assert math.isclose(sum(p.numel() for p in global_only.parameters()),
                        4 * c * c + 4 * c + 2 * c)


@pytest.mark.parametrize('kwargs,match', [
    (dict(in_channels=30, head_dim=8), 'must be positive and divide'),
    (dict(in_channels=32, head_dim=8, grid_size=0), 'must be >= 1'),
])
def test_hmhsa_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HMHSA(**kwargs)


def test_hmhsa_wrong_channels():
    with pytest.raises(ValueError, match='expects 32 input channels'):
        HMHSA(32, head_dim=8)(torch.randn(1, 16, 4, 4))


def test_hmhsa_ceil_pool_equals_floor_pool_on_divisible_maps():
    x = torch.randn(1, 4, 8, 12)
    torch.testing.assert_close(HMHSA(4, head_dim=4, grid_size=2, ds_ratio=4).pool(x),
                               F.avg_pool2d(x, 4, 4))


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg'])
def test_plugs_into_a_stock_resnet(scope):
    """The paper's claim: H-MHSA inserts into any CNN, here via the stock `plugins=` argument."""
    import importlib

    from mmengine.registry import init_default_scope
    pytest.importorskip(scope)
    init_default_scope(scope)
    registry = importlib.import_module(f'{scope}.registry').MODELS
    plugins = [
        dict(cfg=dict(type='mmhybrid.HMHSA', head_dim=64, grid_size=7, ds_ratio=2),
             stages=(False, False, True, False), position='after_conv2'),
        dict(cfg=dict(type='mmhybrid.HMHSA', head_dim=64, grid_size=1,
                      norm_cfg=dict(type='GN', num_groups=1, eps=1e-6)),
             stages=(False, False, False, True), position='after_conv2'),
    ]
    resnet = registry.build(
        dict(type='ResNet' if scope == 'mmdet' else 'ResNetV1c', depth=50, plugins=plugins))
    resnet.init_weights()
    block3, block4 = resnet.layer3[0], resnet.layer4[0]
    assert isinstance(block3.hmhsa, HMHSA) and block3.hmhsa.grid_size == 7
    assert block3.hmhsa.in_channels == 256 and block4.hmhsa.in_channels == 512
    assert isinstance(block4.hmhsa.norm, torch.nn.GroupNorm)
    assert not hasattr(resnet.layer2[0], 'hmhsa')
    assert sum(isinstance(m, HMHSA) for m in resnet.modules()) == 6 + 3
    _randomise_norms(resnet)
    resnet.double().eval()
    x = torch.randn(1, 3, 90, 130, dtype=torch.float64)
    with torch.no_grad():
        outs = resnet(x)  # stage-3 map 6x9: padded to 7x14 windows
    assert outs[-1].shape == (1, 2048, 3, 5)
    assert torch.isfinite(outs[-1]).all()

    # Deploying the whole network folds the plug-ins through their own reparameterize().
    from mmhybrid.models.utils import switch_to_deploy
    with torch.no_grad():
        folded = switch_to_deploy(resnet)(x)
    assert isinstance(block3.hmhsa.norm, torch.nn.Identity)
    assert isinstance(block3.hmhsa.grid_norm, torch.nn.BatchNorm2d)
    torch.testing.assert_close(folded[-1], outs[-1], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize('grid_size,ds_ratio', [(4, 2), (1, 1)])
def test_hmhsa_reparameterize_folds_norm_and_ds_norm_exactly(grid_size, ds_ratio):
    torch.manual_seed(0)
    module = HMHSA(32, head_dim=8, grid_size=grid_size, ds_ratio=ds_ratio, with_proj_norm=True)
    module.init_weights()
    _randomise_norms(module)
    module.double().eval()
    x = torch.randn(2, 32, 13, 22, dtype=torch.float64)
    with torch.no_grad():
        expected = module(x)
        module.reparameterize()
        module.reparameterize()  # idempotent
        got = module(x)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)
    assert isinstance(module.norm, torch.nn.Identity)
    if grid_size > 1:
        assert isinstance(module.ds_norm, torch.nn.Identity)
        # grid_norm normalises x + local, which the output reuses: not foldable
        assert isinstance(module.grid_norm, torch.nn.BatchNorm2d)

    fresh = HMHSA(32, head_dim=8, grid_size=grid_size, ds_ratio=ds_ratio, with_proj_norm=True,
                  deploy=True).double().eval()
    fresh.load_state_dict(module.state_dict(), strict=True)
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), got, rtol=0, atol=0)


def test_hmhsa_reparameterize_keeps_group_norms():
    gn = dict(type='GN', num_groups=1, eps=1e-6)
    module = HMHSA(16, head_dim=8, grid_size=2, ds_ratio=2, norm_cfg=gn).eval()
    keys = {k: v.clone() for k, v in module.state_dict().items()}
    module.reparameterize()
    assert {k: v for k, v in module.state_dict().items()}.keys() == keys.keys()
    assert all(torch.equal(v, keys[k]) for k, v in module.state_dict().items())
    assert HMHSA(16, head_dim=8, grid_size=2, ds_ratio=2, norm_cfg=gn,
                 deploy=True).state_dict().keys() == keys.keys()


def test_docstring_examples_run():
    """The class docstring's examples, including the stock ResNet bottleneck plug-in."""
    import doctest
    pytest.importorskip('mmdet')
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    tests = doctest.DocTestFinder(recurse=False).find(HMHSA, 'HMHSA', globs={})
    assert tests and sum(len(t.examples) for t in tests) >= 8
    for test in tests:
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
