# Copyright (c) mmhybrid contributors. All rights reserved.
import pytest
import torch
import torch.nn as nn
from helpers import randomize_batchnorm_stats
from mmcv.cnn import fuse_conv_bn

from mmhybrid.models.layers import GlobalSparseAttn, LGLBlock, LocalAgg, SelfAttnBlock
from mmhybrid.models.utils import switch_to_deploy
from mmhybrid.registry import MODELS


def _reference_sparse_attn(attn: GlobalSparseAttn, tokens, hw):
    """Spelled-out EdgeViT sparse attention for divisible H, W (the authors' semantics)."""
    b, n, c = tokens.shape
    h, w = hw
    r, heads = attn.sr_ratio, attn.num_heads
    grid = tokens.transpose(1, 2).reshape(b, c, h, w)
    if r > 1:
        grid = nn.functional.avg_pool2d(grid, kernel_size=1, stride=r)  # the authors' sampler
    sub = grid.flatten(2).transpose(1, 2)
    q, k, v = attn.qkv(sub).reshape(b, -1, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
    weights = ((q @ k.transpose(-2, -1)) * (c // heads)**-0.5).softmax(-1)
    out = (weights @ v).transpose(1, 2).reshape(b, -1, c)
    if r > 1:
        out = attn.LocalProp(out.transpose(1, 2).reshape(b, c, h // r, w // r))
        out = attn.norm(out.flatten(2).transpose(1, 2))
    return attn.proj(out)


@pytest.mark.parametrize('sr_ratio', [1, 2, 4])
def test_global_sparse_attn_matches_reference(sr_ratio):
    attn = GlobalSparseAttn(32, num_heads=4, sr_ratio=sr_ratio).eval()
    tokens = torch.randn(2, 8 * 12, 32)
    torch.testing.assert_close(
        attn(tokens, (8, 12)), _reference_sparse_attn(attn, tokens, (8, 12)),
        rtol=1e-5, atol=1e-5)


def test_global_sparse_attn_samples_top_left_token_not_average():
    attn = GlobalSparseAttn(16, num_heads=2, sr_ratio=4).eval()
    grid = torch.randn(1, 16, 8, 8)
    changed = grid.clone()
    changed[:, :, 1::4, :] += 5.  # every row except the delegates' rows 0 and 4
    changed[:, :, :, 3::4] -= 3.
    tokens = lambda g: g.flatten(2).transpose(1, 2)  # noqa: E731
    out = attn(tokens(grid), (8, 8))
    assert torch.equal(out, attn(tokens(changed), (8, 8)))
    changed[:, :, 4, 4] += 1.  # a delegate token
    assert not torch.allclose(out, attn(tokens(changed), (8, 8)))


def test_global_sparse_attn_parameters_and_keys():
    attn = GlobalSparseAttn(24, num_heads=3, sr_ratio=2)
    assert attn.norm.eps == 1e-5
    assert attn.LocalProp.weight.shape == (24, 1, 2, 2)
    assert set(attn.state_dict()) == {
        'qkv.weight', 'qkv.bias', 'proj.weight', 'proj.bias', 'LocalProp.weight',
        'LocalProp.bias', 'norm.weight', 'norm.bias'}
    plain = GlobalSparseAttn(24, num_heads=3, sr_ratio=1)
    assert not hasattr(plain, 'LocalProp') and not hasattr(plain, 'norm')
    with pytest.raises(ValueError, match='divisible by num_heads'):
        GlobalSparseAttn(24, num_heads=5)
    with pytest.raises(ValueError, match='positive integer'):
        GlobalSparseAttn(24, num_heads=3, sr_ratio=1.5)


@pytest.mark.parametrize('hw', [(7, 9), (5, 5), (13, 2)])
def test_global_sparse_attn_any_size_uses_partial_cells(hw):
    attn = GlobalSparseAttn(16, num_heads=2, sr_ratio=4).eval()
    h, w = hw
    out = attn(torch.randn(2, h * w, 16), hw)
    assert out.shape == (2, h * w, 16)
    # Zero-padding to whole cells adds no delegate (each partial cell keeps its real top-left
    # token), so the result must equal the padded computation cropped back.
    grid = torch.randn(1, 16, h, w)
    padded = torch.zeros(1, 16, -(-h // 4) * 4, -(-w // 4) * 4)
    padded[..., :h, :w] = grid
    ref = attn(padded.flatten(2).transpose(1, 2), padded.shape[-2:])
    ref = ref.transpose(1, 2).reshape(1, 16, *padded.shape[-2:])[..., :h, :w]
    got = attn(grid.flatten(2).transpose(1, 2), hw).transpose(1, 2).reshape(1, 16, h, w)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)


def test_local_agg_structure_and_deploy():
    block = LocalAgg(16, mlp_ratio=4)
    assert isinstance(block.norm1, nn.BatchNorm2d) and isinstance(block.norm2, nn.BatchNorm2d)
    assert block.attn.kernel_size == (5, 5) and block.attn.groups == 16
    assert block.pos_embed.kernel_size == (3, 3) and block.pos_embed.groups == 16
    assert block.mlp.fc1.out_channels == 64
    assert sum(p.numel() for p in block.parameters()) == (
        10 * 16 + 2 * 16 + 2 * (16 * 16 + 16) + 26 * 16 + 2 * 16 + 8 * 16 * 16 + 5 * 16)
    randomize_batchnorm_stats(block)
    block.eval()
    x = torch.randn(2, 16, 9, 11)
    expected = block(x)
    keys = set(block.state_dict())
    block.reparameterize()
    block.reparameterize()  # idempotent
    assert not any(isinstance(m, nn.BatchNorm2d) for m in block.modules())
    torch.testing.assert_close(block(x), expected, rtol=1e-5, atol=1e-5)
    # The folded structure: the BNs vanish, no key is added (conv1 and mlp.fc1 had biases).
    assert keys - set(block.state_dict()) == {k for k in keys if k.startswith(('norm1.', 'norm2.'))}
    assert set(block.state_dict()) <= keys
    fresh = LocalAgg(16, mlp_ratio=4, deploy=True).eval()
    fresh.load_state_dict(block.state_dict(), strict=True)
    assert torch.equal(fresh(x), block(x))


def test_local_agg_folds_batch_norms_only():
    with pytest.raises(ValueError, match='BatchNorm'):
        LocalAgg(8, norm_cfg=dict(type='GN', num_groups=2), deploy=True)
    block = LocalAgg(8, norm_cfg=dict(type='GN', num_groups=2))
    with pytest.raises(ValueError, match='BatchNorms only'):
        block.reparameterize()
    assert not block.deploy and isinstance(block.norm1, nn.GroupNorm)


def test_mmcv_generic_fusion_never_folds_a_bn_into_the_wrong_conv():
    block = LGLBlock(16, num_heads=2, sr_ratio=2)
    randomize_batchnorm_stats(block)
    block.eval()
    x = torch.randn(1, 16, 8, 8)
    expected = block(x)
    fuse_conv_bn(block)  # the BNs normalise conv *inputs*: mmcv must find nothing to fuse
    assert sum(isinstance(m, nn.BatchNorm2d) for m in block.modules()) == 2
    assert torch.equal(block(x), expected)


@pytest.mark.parametrize('sr_ratio', [1, 2])
def test_lgl_block_build_shape_and_deploy(sr_ratio):
    block = MODELS.build(dict(type='mmhybrid.LGLBlock', embed_dims=16, num_heads=2,
                              sr_ratio=sr_ratio, drop_path_rate=0.1))
    assert isinstance(block.LocalAgg, LocalAgg if sr_ratio > 1 else nn.Identity)
    assert isinstance(block.SelfAttn, SelfAttnBlock)
    assert block.SelfAttn.norm1.eps == 1e-6 and block.SelfAttn.norm2.eps == 1e-6
    x = torch.randn(2, 16, 7, 10)
    block.train()
    assert block(x).shape == x.shape
    randomize_batchnorm_stats(block)
    block.eval()
    expected = block(x)
    switch_to_deploy(block)
    assert block.deploy and block.SelfAttn.deploy
    torch.testing.assert_close(block(x), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('sr_ratio', [1, 2])
def test_lgl_block_deploy_flag_loads_the_folded_state_dict(sr_ratio):
    """``reparameterize()`` and ``LGLBlock(..., deploy=True)`` give the same structure: the folded
    state dict loads strictly and reproduces the outputs."""
    block = LGLBlock(16, num_heads=2, sr_ratio=sr_ratio).double()
    randomize_batchnorm_stats(block)
    block.eval()
    x = torch.randn(2, 16, 7, 10, dtype=torch.double)
    with torch.no_grad():
        expected = block(x)
        block.reparameterize()
        block.reparameterize()  # idempotent
        folded = block(x)
    torch.testing.assert_close(folded, expected, rtol=1e-10, atol=1e-12)
    fresh = LGLBlock(16, num_heads=2, sr_ratio=sr_ratio, deploy=True).double().eval()
    fresh.load_state_dict(block.state_dict(), strict=True)
    with torch.no_grad():
        assert torch.equal(fresh(x), folded)


def test_self_attn_block_reparameterize_folds_the_positional_identity():
    block = SelfAttnBlock(16, num_heads=2, sr_ratio=2).eval()
    x = torch.randn(1, 16, 6, 9)
    with torch.no_grad():
        expected = block(x)
        block.reparameterize()
        block.reparameterize()  # idempotent: the identity is added once
        torch.testing.assert_close(block(x), expected, rtol=1e-5, atol=1e-5)
    fresh = SelfAttnBlock(16, num_heads=2, sr_ratio=2, deploy=True).eval()
    fresh.load_state_dict(block.state_dict(), strict=True)
    with torch.no_grad():
        assert torch.equal(fresh(x), block(x))


def test_lgl_block_local_agg_can_be_forced():
    assert isinstance(LGLBlock(8, 1, sr_ratio=1, with_local_agg=True).LocalAgg, LocalAgg)
    assert isinstance(LGLBlock(8, 1, sr_ratio=2, with_local_agg=False).LocalAgg, nn.Identity)
