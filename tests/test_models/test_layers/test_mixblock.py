# Copyright (c) mmhybrid contributors. All rights reserved.
"""MixBlocks and their parts (TRT-ViT): shapes, channel bookkeeping, wiring order, validation,
BN folding (``reparameterize()``, ``deploy=True``) and use as a plug-in in a stock ResNet."""
import io

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from helpers import randomize_batchnorm_stats
from mmcv.cnn import ConvModule

from mmhybrid.models.layers.mixblock import MixBlockA, MixBlockB, MixBlockC
from mmhybrid.models.layers.trt_blocks import (
    ConvBNAct,
    SpatialReductionAttention,
    TRTBottleneck,
    TRTTransformerBlock,
)
from mmhybrid.models.utils import switch_to_deploy
from mmhybrid.registry import MODELS


def _num_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize('name', ['MixBlockA', 'MixBlockB', 'MixBlockC'])
def test_plug_ins_registered_in_mmhybrid_scope(name):
    assert MODELS.get(name).__name__ == name


@pytest.mark.parametrize('name', ['TRTBottleneck', 'TRTTransformerBlock'])
def test_internal_blocks_not_registered(name):
    """The MixBlocks' parts are importable classes, not registry entries."""
    assert MODELS.get(name) is None


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


def test_conv_bn_act_is_a_conv_module_with_the_same_keys():
    """Unfolded, ConvBNAct is mmcv's ConvModule: same keys, same outputs (checkpoints load)."""
    kwargs = dict(stride=2, padding=1, norm_cfg=dict(type='BN'), act_cfg=dict(type='ReLU'))
    ours, stock = ConvBNAct(8, 16, 3, **kwargs), ConvModule(8, 16, 3, **kwargs)
    assert isinstance(ours, ConvModule)
    assert ours.state_dict().keys() == stock.state_dict().keys() == {
        'conv.weight', 'bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var',
        'bn.num_batches_tracked'}
    stock.load_state_dict(ours.state_dict(), strict=True)
    x = torch.rand(2, 8, 9, 7)
    torch.testing.assert_close(ours.eval()(x), stock.eval()(x))


def test_conv_bn_act_reparameterize_and_deploy_flag():
    block = ConvBNAct(8, 16, 3, padding=1, act_cfg=None).double()
    randomize_batchnorm_stats(block)
    block.eval()
    x = torch.rand(2, 8, 9, 7, dtype=torch.float64)
    expected = block(x)
    block.reparameterize()
    assert block.deploy and block.norm is None and not hasattr(block, 'bn')
    assert set(block.state_dict()) == {'conv.weight', 'conv.bias'}
    torch.testing.assert_close(block(x), expected, rtol=1e-10, atol=1e-12)
    block.reparameterize()  # idempotent
    torch.testing.assert_close(block(x), expected, rtol=1e-10, atol=1e-12)
    fresh = ConvBNAct(8, 16, 3, padding=1, act_cfg=None, deploy=True).double().eval()
    fresh.load_state_dict(block.state_dict(), strict=True)
    torch.testing.assert_close(fresh(x), expected, rtol=1e-10, atol=1e-12)


def test_conv_bn_act_folds_batchnorm_only():
    with pytest.raises(ValueError, match='BatchNorm'):
        ConvBNAct(8, 16, 1, norm_cfg=dict(type='GN', num_groups=4), deploy=True)
    block = ConvBNAct(8, 16, 1, norm_cfg=dict(type='GN', num_groups=4))
    with pytest.raises(ValueError, match='BatchNorm'):
        block.reparameterize()


def _deploy_case(block_cls):
    kwargs = dict(stride=2) if block_cls is TRTBottleneck else dict(sr_ratio=2, stride=2)
    return block_cls(64, 128, **kwargs), kwargs


@pytest.mark.parametrize('block_cls', [TRTBottleneck, MixBlockA, MixBlockB, MixBlockC])
def test_reparameterize_folds_every_bn(block_cls):
    block, _ = _deploy_case(block_cls)
    randomize_batchnorm_stats(block)
    block.eval()
    x = torch.rand(2, 64, 10, 14)
    with torch.no_grad():
        expected = block(x)
        block.reparameterize()
        assert block.deploy
        assert not any(isinstance(m, nn.BatchNorm2d) for m in block.modules())
        torch.testing.assert_close(block(x), expected, rtol=1e-4, atol=1e-5)
        block.reparameterize()  # idempotent
        torch.testing.assert_close(block(x), expected, rtol=1e-4, atol=1e-5)
        switch_to_deploy(block)  # the whole-model conversion leaves a folded block alone
        torch.testing.assert_close(block(x), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('block_cls', [TRTBottleneck, MixBlockA, MixBlockB, MixBlockC])
def test_deploy_flag_loads_the_folded_state_dict(block_cls):
    """``deploy=True`` builds the folded block: the folded state dict loads strictly and gives
    the folded outputs; the unfolded keys are those of today (no key added or renamed)."""
    block, kwargs = _deploy_case(block_cls)
    block = block.double()
    keys_before = set(block.state_dict())
    randomize_batchnorm_stats(block)
    block.eval()
    x = torch.rand(2, 64, 10, 14, dtype=torch.float64)
    with torch.no_grad():
        expected = block(x)
        block.reparameterize()
    conv_bns = [name for name, m in block.named_modules() if isinstance(m, ConvBNAct)]
    assert set(block.state_dict()) == {k for k in keys_before if '.bn.' not in k} | {
        f'{name}.conv.bias' for name in conv_bns}
    buffer = io.BytesIO()
    torch.save(block.state_dict(), buffer)
    buffer.seek(0)
    fresh = block_cls(64, 128, deploy=True, **kwargs).double().eval()
    fresh.load_state_dict(torch.load(buffer), strict=True)
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize('block_cls', [MixBlockA, MixBlockB, MixBlockC])
def test_mixblock_plugs_into_a_stock_resnet_stage(block_cls):
    """The docstring example: a MixBlock replaces a block of MMPretrain's ResNet-18, trains
    (every parameter of the MixBlock gets a gradient) and folds with the stock parts."""
    resnet_cls = pytest.importorskip('mmpretrain.models').ResNet
    backbone = resnet_cls(depth=18, out_indices=(2, 3))
    backbone.layer4[1] = block_cls(512, 512, sr_ratio=1)
    randomize_batchnorm_stats(backbone)
    x = torch.rand(2, 3, 128, 96)
    outs = backbone(x)
    assert [tuple(o.shape) for o in outs] == [(2, 256, 8, 6), (2, 512, 4, 3)]
    sum(o.sum() for o in outs).backward()
    assert all(p.grad is not None for p in backbone.layer4[1].parameters())
    backbone.eval()
    with torch.no_grad():
        expected = backbone(x)
        switch_to_deploy(backbone)
        assert not any(isinstance(m, nn.BatchNorm2d) for m in backbone.modules())
        for out, ref in zip(backbone(x), expected):
            torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)
