# Copyright (c) mmhybrid contributors. All rights reserved.
"""TRT-ViT blocks: shapes, channel bookkeeping, wiring order, validation and BN folding."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmhybrid.models.layers.trt_blocks import (MixBlockA, MixBlockB, MixBlockC,
                                               SpatialReductionAttention, TRTBottleneck,
                                               TRTTransformerBlock)
from mmhybrid.models.utils import switch_to_deploy
from mmhybrid.registry import MODELS


def _randomise_bn(module: nn.Module) -> None:
    """Non-trivial BN statistics and affine parameters, so folding is actually exercised."""
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)


def _num_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize('name', ['TRTBottleneck', 'TRTTransformerBlock', 'MixBlockA',
                                  'MixBlockB', 'MixBlockC'])
def test_blocks_registered_in_mmhybrid_scope(name):
    assert MODELS.get(name).__name__ == name


@pytest.mark.parametrize('stride, in_channels, kernel_size', [(1, 64, 3), (2, 32, 5), (1, 32, 3)])
def test_bottleneck_shapes_and_shortcut(stride, in_channels, kernel_size):
    block = TRTBottleneck(in_channels, 64, kernel_size=kernel_size, stride=stride)
    out = block(torch.rand(2, in_channels, 15, 9))
    assert out.shape == (2, 64, (15 + stride - 1) // stride, (9 + stride - 1) // stride)
    assert block.conv2.conv.kernel_size == (kernel_size, kernel_size)
    assert block.conv1.conv.out_channels == 16  # expansion 4
    needs_projection = stride != 1 or in_channels != 64
    assert isinstance(block.downsample, nn.Identity) != needs_projection
    assert (out >= 0).all()  # ReLU after the residual sum


def test_bottleneck_validation():
    with pytest.raises(ValueError, match='divisible by expansion'):
        TRTBottleneck(64, 66)
    with pytest.raises(ValueError, match='odd'):
        TRTBottleneck(64, 64, kernel_size=4)
    with pytest.raises(ValueError, match='stride'):
        TRTBottleneck(64, 64, stride=3)


@pytest.mark.parametrize('sr_ratio', [1, 2])
def test_transformer_block(sr_ratio):
    block = TRTTransformerBlock(64, sr_ratio=sr_ratio).eval()
    assert block.attn.num_heads == 2  # head dim 32
    assert block.mlp[0].out_features == 192  # MLP ratio 3
    assert isinstance(block.mlp[1], nn.GELU)
    assert isinstance(block.norm1, nn.LayerNorm)
    assert hasattr(block.attn, 'sr') == (sr_ratio > 1)
    x = torch.rand(2, 64, 7, 5)  # odd sizes: keys/values are padded to a multiple of S
    out = block(x)
    assert out.shape == x.shape
    # Exactly: attention + MLP on tokens, as written in the docstring.
    tokens = x.flatten(2).transpose(1, 2)
    tokens = tokens + block.attn(block.norm1(tokens), (7, 5))
    tokens = tokens + block.mlp(block.norm2(tokens))
    torch.testing.assert_close(out, tokens.transpose(1, 2).reshape(2, 64, 7, 5))


def test_attention_matches_explicit_softmax():
    attn = SpatialReductionAttention(64, sr_ratio=2).eval()
    x = torch.rand(1, 20, 64)
    out = attn(x, (4, 5))
    q = attn.q(x).reshape(1, 20, 2, 32).transpose(1, 2)
    # 4x5 is zero-padded to 4x6, then reduced by S=2 to 2x3 keys (ceil rounding).
    padded = F.pad(x.transpose(1, 2).reshape(1, 64, 4, 5), (0, 1, 0, 0))
    kv_src = attn.norm(attn.sr(padded).flatten(2).transpose(1, 2))
    k, v = attn.kv(kv_src).reshape(1, -1, 2, 2, 32).permute(2, 0, 3, 1, 4)
    assert k.shape[2] == 6
    weights = (q @ k.transpose(-2, -1) * 32**-0.5).softmax(-1)
    expected = attn.proj((weights @ v).transpose(1, 2).reshape(1, 20, 64))
    torch.testing.assert_close(out, expected)


def test_transformer_head_dim_validation():
    with pytest.raises(ValueError, match='head_dim'):
        TRTTransformerBlock(48)


@pytest.mark.parametrize('block_cls', [MixBlockA, MixBlockB, MixBlockC])
@pytest.mark.parametrize('stride', [1, 2])
def test_mixblock_shapes(block_cls, stride):
    block = block_cls(96, 128, sr_ratio=2, stride=stride).eval()
    out = block(torch.rand(2, 96, 9, 12))
    assert out.shape == (2, 128, (9 + stride - 1) // stride, 12 // stride)
    assert block.projection.conv.kernel_size == ((1, 1) if stride == 1 else (3, 3))
    assert block.transformer.embed_dims == 64


def test_mixblock_channel_layout():
    """A splits the projection, B and C stack their two blocks; all concat global + local."""
    a = MixBlockA(64, 256, shrink_ratio=0.25)
    assert a.projection.conv.out_channels == 256
    assert (a.transformer.embed_dims, a.bottleneck.in_channels, a.bottleneck.out_channels) == \
        (64, 192, 192)
    b = MixBlockB(64, 256)
    assert b.projection.conv.out_channels == 128
    assert (b.bottleneck.in_channels, b.bottleneck.out_channels, b.transformer.embed_dims) == \
        (128, 128, 128)
    c = MixBlockC(64, 256, shrink_ratio=0.25)
    assert c.projection.conv.out_channels == 64
    assert (c.transformer.embed_dims, c.bottleneck.in_channels, c.bottleneck.out_channels) == \
        (64, 64, 192)
    assert not isinstance(c.bottleneck.downsample, nn.Identity)  # 64 -> 192 needs a projection


def test_mixblock_wiring_order():
    """C is global-then-local, B local-then-global, A parallel: checked against hand wiring."""
    x = torch.rand(1, 64, 6, 6)
    c = MixBlockC(64, 128).eval()
    g = c.transformer(c.projection(x))
    torch.testing.assert_close(c(x), torch.cat([g, c.bottleneck(g)], 1))
    b = MixBlockB(64, 128).eval()
    loc = b.bottleneck(b.projection(x))
    torch.testing.assert_close(b(x), torch.cat([loc, b.transformer(loc)], 1))
    a = MixBlockA(64, 128).eval()
    y = a.projection(x)
    torch.testing.assert_close(
        a(x), torch.cat([a.transformer(y[:, :64]), a.bottleneck(y[:, 64:])], 1))


def test_mixblock_validation():
    with pytest.raises(ValueError, match='fixed at 0.5'):
        MixBlockB(64, 128, shrink_ratio=0.25)
    with pytest.raises(ValueError, match=r'must lie in \(0, 1\)'):
        MixBlockC(64, 128, shrink_ratio=1.0)
    with pytest.raises(ValueError, match='multiple of the head dim'):
        MixBlockC(64, 96)  # 48 Transformer channels is not a multiple of 32
    with pytest.raises(ValueError, match='stride'):
        MixBlockA(64, 128, stride=4)


def test_mixblock_param_count():
    """Hand-counted MixBlock C (in 64, C 128, R 0.5, S 2, K 3): pins the block's structure."""
    block = MixBlockC(64, 128, sr_ratio=2)
    d = 64
    projection = 64 * d + 2 * d
    transformer = (2 * d) * 2 + (d * d + d) + (2 * d * d + 2 * d) + (d * d + d) \
        + (4 * d * d + d + 2 * d) + (d * 3 * d + 3 * d) + (3 * d * d + d)
    mid = 64 // 4
    bottleneck = (d * mid + 2 * mid) + (9 * mid * mid + 2 * mid) + (mid * 64 + 2 * 64)
    assert _num_params(block) == projection + transformer + bottleneck


@pytest.mark.parametrize('block_cls', [TRTBottleneck, MixBlockA, MixBlockB, MixBlockC])
def test_switch_to_deploy_folds_every_bn(block_cls):
    kwargs = dict(stride=2) if block_cls is TRTBottleneck else dict(sr_ratio=2, stride=2)
    block = block_cls(64, 128, **kwargs)
    _randomise_bn(block)
    block.eval()
    x = torch.rand(2, 64, 10, 14)
    with torch.no_grad():
        expected = block(x)
        switch_to_deploy(block)
        assert not any(isinstance(m, nn.BatchNorm2d) for m in block.modules())
        torch.testing.assert_close(block(x), expected, rtol=1e-4, atol=1e-5)
        switch_to_deploy(block)  # idempotent
        torch.testing.assert_close(block(x), expected, rtol=1e-4, atol=1e-5)
