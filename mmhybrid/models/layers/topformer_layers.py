# Copyright (c) mmhybrid contributors. All rights reserved.
"""Building blocks of TopFormer (`Zhang et al., CVPR 2022 <https://arxiv.org/abs/2204.05525>`_).

Re-implemented from the paper and the behaviour of the authors' code (``hustvl/TopFormer``).
Submodule names follow the authors' state dict (``c``/``bn``, ``conv.{0,2,4}``, ``to_q``, ``proj.1``,
``mlp.dwconv``, ``local_embedding`` ...) so their released checkpoints load with ``strict=True``.
"""
from typing import List, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_activation_layer, build_norm_layer
from mmcv.cnn.bricks import DropPath
from mmengine.model import BaseModule

from mmhybrid.registry import MODELS


@MODELS.register_module()
class TopFormerConv2dBN(nn.Sequential):
    """Bias-free ``nn.Conv2d`` (``c``) followed by a norm layer (``bn``), as the authors' ``Conv2d_BN``.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Convolution kernel size. Defaults to 1.
        stride (int): Convolution stride. Defaults to 1.
        padding (int): Zero padding. Defaults to 0.
        groups (int): Convolution groups. Defaults to 1.
        bn_weight_init (float): Initial value of the norm's scale (0 makes a residual branch start
            as identity). Defaults to 1.
        norm_cfg (dict): Norm layer config. Defaults to ``dict(type='BN')``.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int = 1,
                 stride: int = 1,
                 padding: int = 0,
                 groups: int = 1,
                 bn_weight_init: float = 1.0,
                 norm_cfg: dict = dict(type='BN')):
        super().__init__()
        self.bn_weight_init = bn_weight_init
        self.add_module(
            'c',
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding,
                      groups=groups, bias=False))
        self.add_module('bn', build_norm_layer(norm_cfg, out_channels)[1])
        self.reset_bn()

    def reset_bn(self) -> None:
        """Set the norm scale to ``bn_weight_init`` and its shift to 0."""
        nn.init.constant_(self.bn.weight, self.bn_weight_init)
        nn.init.zeros_(self.bn.bias)


@MODELS.register_module()
class TopFormerInvertedResidual(BaseModule):
    """MobileNetV2 inverted residual of the Token Pyramid Module.

    ``conv`` holds ``[1x1 expand, act,] kxk depthwise, act, 1x1 project`` (the expansion pair is
    absent when ``expand_ratio == 1``), so the authors' keys ``conv.{0,2,4}`` (or ``conv.{0,2}``)
    line up. The shortcut is used when ``stride == 1`` and the channel count is unchanged.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Depthwise kernel size (padding ``kernel_size // 2``).
        stride (int): Depthwise stride.
        expand_ratio (float): Hidden width = ``int(round(in_channels * expand_ratio))``.
        norm_cfg (dict): Norm layer config. Defaults to ``dict(type='BN')``.
        act_cfg (dict): Activation config. Defaults to ``dict(type='ReLU')``.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int,
                 stride: int,
                 expand_ratio: float,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU')):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f'stride must be 1 or 2, got {stride}')
        hidden = int(round(in_channels * expand_ratio))
        self.use_shortcut = stride == 1 and in_channels == out_channels
        layers = []
        if expand_ratio != 1:
            layers += [TopFormerConv2dBN(in_channels, hidden, 1, norm_cfg=norm_cfg),
                       build_activation_layer(act_cfg)]
        layers += [
            TopFormerConv2dBN(hidden, hidden, kernel_size, stride, kernel_size // 2,
                              groups=hidden, norm_cfg=norm_cfg),
            build_activation_layer(act_cfg),
            TopFormerConv2dBN(hidden, out_channels, 1, norm_cfg=norm_cfg),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_shortcut else self.conv(x)


@MODELS.register_module()
class TopFormerTokenPyramid(BaseModule):
    """Token Pyramid Module: a stride-2 stem then a stack of inverted residuals.

    Modules are named ``stem`` (``stem.0`` is the conv+BN) and ``layer1`` ... ``layerN``.

    Args:
        layer_cfgs (Sequence[Sequence[int]]): One ``[kernel_size, expand_ratio, out_channels,
            stride]`` row per inverted residual.
        tap_indices (Sequence[int]): 0-based rows whose outputs form the token pyramid.
        stem_channels (int): Stem output channels. Defaults to 16.
        in_channels (int): Image channels. Defaults to 3.
        norm_cfg (dict): Norm layer config. Defaults to ``dict(type='BN')``.
        act_cfg (dict): Activation config. Defaults to ``dict(type='ReLU')``.
    """

    def __init__(self,
                 layer_cfgs: Sequence[Sequence[int]],
                 tap_indices: Sequence[int],
                 stem_channels: int = 16,
                 in_channels: int = 3,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU')):
        super().__init__()
        self.tap_indices = tuple(tap_indices)
        self.stem = nn.Sequential(
            TopFormerConv2dBN(in_channels, stem_channels, 3, 2, 1, norm_cfg=norm_cfg),
            build_activation_layer(act_cfg))
        self.layer_names = []
        channels = stem_channels
        for i, (kernel_size, expand_ratio, out_channels, stride) in enumerate(layer_cfgs):
            name = f'layer{i + 1}'
            self.add_module(
                name,
                TopFormerInvertedResidual(channels, out_channels, kernel_size, stride,
                                          expand_ratio, norm_cfg=norm_cfg, act_cfg=act_cfg))
            self.layer_names.append(name)
            channels = out_channels

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        """Return the tapped maps, finest first."""
        x = self.stem(x)
        taps = []
        for i, name in enumerate(self.layer_names):
            x = getattr(self, name)(x)
            if i in self.tap_indices:
                taps.append(x)
        return taps


@MODELS.register_module()
class TopFormerPyramidPoolAgg(nn.Module):
    """Pool every pyramid map to ``ceil(H_last / stride) x ceil(W_last / stride)``, concatenate.

    ``H_last`` is the height of the coarsest map, so with stride 2 the tokens are at 1/64 of the
    input (8x8 for 512x512). Parameter-free.

    ONNX cannot express adaptive pooling whose output size does not divide the input size (e.g.
    a 7x7 map pooled to 4x4 at 224x224); during ONNX export the same average is computed exactly
    as two matrix products with constant bin-averaging matrices (fixed input size only). Unlike
    the authors' export path, which swaps in a plain ``avg_pool2d``, this matches eager mode for
    every input size.
    """

    def __init__(self, stride: int = 2):
        super().__init__()
        self.stride = stride

    @staticmethod
    def bin_average_matrix(in_size: int, out_size: int, dtype: torch.dtype) -> torch.Tensor:
        """``(out_size, in_size)`` matrix averaging the bins of ``adaptive_avg_pool``."""
        index = torch.arange(out_size)
        start = (index * in_size) // out_size
        end = ((index + 1) * in_size + out_size - 1) // out_size
        position = torch.arange(in_size)
        inside = (position[None] >= start[:, None]) & (position[None] < end[:, None])
        return inside.to(dtype) / (end - start)[:, None].to(dtype)

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        height, width = inputs[-1].shape[-2:]
        size = ((height - 1) // self.stride + 1, (width - 1) // self.stride + 1)
        if torch.onnx.is_in_onnx_export():
            return torch.cat([self._pool_by_matmul(x, size) for x in inputs], dim=1)
        return torch.cat([F.adaptive_avg_pool2d(x, size) for x in inputs], dim=1)

    def _pool_by_matmul(self, x: torch.Tensor, size) -> torch.Tensor:
        rows = self.bin_average_matrix(int(x.shape[-2]), int(size[0]), x.dtype).to(x.device)
        cols = self.bin_average_matrix(int(x.shape[-1]), int(size[1]), x.dtype).to(x.device)
        return torch.matmul(torch.matmul(rows, x), cols.t())


@MODELS.register_module()
class TopFormerAttention(BaseModule):
    """Multi-head self-attention on an NCHW token map with conv+BN projections.

    Queries/keys have ``key_dim`` channels per head and values ``attn_ratio * key_dim``; channels
    are laid out head-major. The output goes through the activation then a conv+BN whose scale
    starts at 0 (``proj.0`` / ``proj.1``).

    Args:
        dim (int): Token channels.
        key_dim (int): Query/key channels per head.
        num_heads (int): Number of heads.
        attn_ratio (float): Value channels per head divided by ``key_dim``.
        act_cfg (dict): Activation before the output projection.
        norm_cfg (dict): Norm layer config.
    """

    def __init__(self,
                 dim: int,
                 key_dim: int,
                 num_heads: int,
                 attn_ratio: float = 2.,
                 act_cfg: dict = dict(type='ReLU6'),
                 norm_cfg: dict = dict(type='BN')):
        super().__init__()
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.value_dim = int(attn_ratio * key_dim)
        self.to_q = TopFormerConv2dBN(dim, key_dim * num_heads, norm_cfg=norm_cfg)
        self.to_k = TopFormerConv2dBN(dim, key_dim * num_heads, norm_cfg=norm_cfg)
        self.to_v = TopFormerConv2dBN(dim, self.value_dim * num_heads, norm_cfg=norm_cfg)
        self.proj = nn.Sequential(
            build_activation_layer(act_cfg),
            TopFormerConv2dBN(self.value_dim * num_heads, dim, bn_weight_init=0.,
                              norm_cfg=norm_cfg))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = x.shape
        tokens = height * width
        q = self.to_q(x).reshape(batch, self.num_heads, self.key_dim, tokens).transpose(2, 3)
        k = self.to_k(x).reshape(batch, self.num_heads, self.key_dim, tokens)
        v = self.to_v(x).reshape(batch, self.num_heads, self.value_dim, tokens).transpose(2, 3)
        # Quirk kept from the authors' code: the logits are NOT scaled by key_dim ** -0.5.
        attn = torch.matmul(q, k).softmax(dim=-1)
        out = torch.matmul(attn, v).transpose(2, 3).reshape(batch, -1, height, width)
        return self.proj(out)


@MODELS.register_module()
class TopFormerMlp(BaseModule):
    """Conv FFN: 1x1 conv+BN, 3x3 depthwise conv (with bias), activation, 1x1 conv+BN.

    Quirk kept from the authors' code: there is no activation between ``fc1`` and ``dwconv``.
    """

    def __init__(self,
                 in_channels: int,
                 hidden_channels: int,
                 act_cfg: dict = dict(type='ReLU6'),
                 drop_rate: float = 0.,
                 norm_cfg: dict = dict(type='BN')):
        super().__init__()
        self.fc1 = TopFormerConv2dBN(in_channels, hidden_channels, norm_cfg=norm_cfg)
        self.dwconv = nn.Conv2d(hidden_channels, hidden_channels, 3, 1, 1, groups=hidden_channels)
        self.act = build_activation_layer(act_cfg)
        self.fc2 = TopFormerConv2dBN(hidden_channels, in_channels, norm_cfg=norm_cfg)
        self.drop = nn.Dropout(drop_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop(self.act(self.dwconv(self.fc1(x))))
        return self.drop(self.fc2(x))


@MODELS.register_module()
class TopFormerBlock(BaseModule):
    """Transformer block of the Scale-aware Semantics Extractor (no LayerNorm: BN lives in the
    conv+BN projections): ``x + DropPath(attn(x))`` then ``x + DropPath(mlp(x))``."""

    def __init__(self,
                 dim: int,
                 key_dim: int,
                 num_heads: int,
                 mlp_ratio: float = 2.,
                 attn_ratio: float = 2.,
                 drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 act_cfg: dict = dict(type='ReLU6'),
                 norm_cfg: dict = dict(type='BN')):
        super().__init__()
        self.attn = TopFormerAttention(dim, key_dim, num_heads, attn_ratio, act_cfg, norm_cfg)
        self.mlp = TopFormerMlp(dim, int(dim * mlp_ratio), act_cfg, drop_rate, norm_cfg)
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(x))
        return x + self.drop_path(self.mlp(x))


@MODELS.register_module()
class TopFormerSemanticsExtractor(BaseModule):
    """Scale-aware Semantics Extractor: ``depth`` :class:`TopFormerBlock` in ``transformer_blocks``.

    Drop-path rates grow linearly from 0 to ``drop_path_rate`` over the blocks.
    """

    def __init__(self,
                 dim: int,
                 depth: int,
                 key_dim: int,
                 num_heads: int,
                 mlp_ratio: float = 2.,
                 attn_ratio: float = 2.,
                 drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 act_cfg: dict = dict(type='ReLU6'),
                 norm_cfg: dict = dict(type='BN')):
        super().__init__()
        rates = torch.linspace(0, drop_path_rate, depth).tolist()
        self.transformer_blocks = nn.ModuleList(
            TopFormerBlock(dim, key_dim, num_heads, mlp_ratio, attn_ratio, drop_rate, rate,
                           act_cfg, norm_cfg) for rate in rates)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.transformer_blocks:
            x = block(x)
        return x


@MODELS.register_module()
class TopFormerSemanticsInjection(BaseModule):
    """Semantics Injection Module (the authors' ``InjectionMultiSum``).

    ``local_embedding(x_local) * up(h_sigmoid(global_act(x_global))) + up(global_embedding(x_global))``
    where each embedding is a 1x1 conv + BN without activation, ``h_sigmoid(x) = ReLU6(x + 3) / 6``
    and ``up`` is bilinear resizing (``align_corners=False``) to the local map's size.

    Args:
        local_channels (int): Channels of the token-pyramid map.
        global_channels (int): Channels of the matching slice of the global semantics.
        out_channels (int): Output channels.
        norm_cfg (dict): Norm layer config.
    """

    def __init__(self,
                 local_channels: int,
                 global_channels: int,
                 out_channels: int,
                 norm_cfg: dict = dict(type='BN')):
        super().__init__()
        conv = dict(kernel_size=1, norm_cfg=norm_cfg, act_cfg=None)
        self.local_embedding = ConvModule(local_channels, out_channels, **conv)
        self.global_embedding = ConvModule(global_channels, out_channels, **conv)
        self.global_act = ConvModule(global_channels, out_channels, **conv)
        # nn.Hardsigmoid is exactly the authors' h_sigmoid, ReLU6(x + 3) / 6.
        self.act = nn.Hardsigmoid()

    def forward(self, x_local: torch.Tensor, x_global: torch.Tensor) -> torch.Tensor:
        size = x_local.shape[-2:]
        # Quirk kept from the authors' code: the gate goes through h_sigmoid *before* upsampling.
        gate = F.interpolate(self.act(self.global_act(x_global)), size=size, mode='bilinear',
                             align_corners=False)
        semantics = F.interpolate(self.global_embedding(x_global), size=size, mode='bilinear',
                                  align_corners=False)
        return self.local_embedding(x_local) * gate + semantics
