# Copyright (c) mmhybrid contributors. All rights reserved.
"""TopFormer (`TopFormer: Token Pyramid Transformer for Mobile Semantic Segmentation
<https://arxiv.org/abs/2204.05525>`_, CVPR 2022): the arch table, the family's blocks and the
backbone.

Re-implemented from the paper and the behaviour of the authors' code (``hustvl/TopFormer``).
Submodule names follow the authors' state dict (``c``/``bn``, ``conv.{0,2,4}``, ``to_q``,
``proj.1``, ``mlp.dwconv``, ``local_embedding`` ...) so their released checkpoints load with
``strict=True``.
"""
import math
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_activation_layer, build_norm_layer
from mmcv.cnn.bricks import DropPath
from mmengine.model import BaseModule
from mmengine.model.weight_init import initialize
from torch.nn.modules.batchnorm import _BatchNorm

from mmhybrid.models.utils.deploy import fuse_conv_bn
from mmhybrid.models.utils.reparam import ReparameterizableMixin, deploy_norm
from mmhybrid.registry import MODELS
from .base_backbone import BaseHybridBackbone

#: Preset archs. ``layer_cfgs`` rows are ``[kernel_size, expand_ratio, out_channels, stride]``
#: of the token pyramid's inverted residuals; ``tap_indices`` the 0-based rows whose outputs form
#: the pyramid (strides 4/8/16/32). Keys not given take :data:`ARCH_DEFAULTS`.
ARCH_SETTINGS: Dict[str, dict] = {
    'tiny': dict(
        layer_cfgs=[[3, 1, 16, 1], [3, 4, 16, 2], [3, 3, 16, 1], [5, 3, 32, 2],
                    [5, 3, 32, 1], [3, 3, 64, 2], [3, 3, 64, 1], [5, 6, 96, 2],
                    [5, 6, 96, 1]],
        tap_indices=[2, 4, 6, 8],
        num_heads=4,
        injection_channels=128),
    'small': dict(
        layer_cfgs=[[3, 1, 16, 1], [3, 4, 24, 2], [3, 3, 24, 1], [5, 3, 48, 2],
                    [5, 3, 48, 1], [3, 3, 96, 2], [3, 3, 96, 1], [5, 6, 128, 2],
                    [5, 6, 128, 1], [3, 6, 128, 1]],
        tap_indices=[2, 4, 6, 9],
        num_heads=6,
        injection_channels=192),
    'base': dict(
        layer_cfgs=[[3, 1, 16, 1], [3, 4, 32, 2], [3, 3, 32, 1], [5, 3, 64, 2],
                    [5, 3, 64, 1], [3, 3, 128, 2], [3, 3, 128, 1], [5, 6, 160, 2],
                    [5, 6, 160, 1], [3, 6, 160, 1]],
        tap_indices=[2, 4, 6, 9],
        num_heads=8,
        injection_channels=256),
}
#: Optional arch keys (the same in every preset) and their values.
ARCH_DEFAULTS = dict(stem_channels=16, depth=4, key_dim=16, attn_ratio=2., mlp_ratio=2.)


# --------------------------------------------------------------------------------- blocks
class TopFormerConv2dBN(ReparameterizableMixin, nn.Sequential):
    """Bias-free ``nn.Conv2d`` (``c``) followed by a norm layer (``bn``), as the authors'
    ``Conv2d_BN``. Maps ``(B, in_channels, H, W)`` to ``(B, out_channels, H', W')``.

    :meth:`reparameterize` folds ``bn`` into ``c`` (which gains a bias) and replaces ``bn`` by
    ``nn.Identity``; ``deploy=True`` builds that structure directly (``c`` with a bias, no norm),
    so a folded state dict (``c.weight``, ``c.bias``) loads strictly. Only a BatchNorm folds:
    another norm raises :class:`~mmhybrid.models.utils.UnfoldableNormError` (at construction
    with ``deploy=True``, or in :meth:`reparameterize`).

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
        deploy (bool): Build the folded structure. Defaults to False.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int = 1,
                 stride: int = 1,
                 padding: int = 0,
                 groups: int = 1,
                 bn_weight_init: float = 1.0,
                 norm_cfg: dict = dict(type='BN'),
                 deploy: bool = False):
        super().__init__()
        self.bn_weight_init = bn_weight_init
        self.deploy = deploy
        self.add_module(
            'c',
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding,
                      groups=groups, bias=deploy))
        norm = build_norm_layer(norm_cfg, out_channels)[1]
        self.add_module('bn', deploy_norm(self, 'bn', norm) if deploy else norm)
        self.reset_bn()

    def reset_bn(self) -> None:
        """Set the norm scale to ``bn_weight_init`` and its shift to 0 (no-op once folded)."""
        if not self.deploy:
            nn.init.constant_(self.bn.weight, self.bn_weight_init)
            nn.init.zeros_(self.bn.bias)

    def _norm_slots(self) -> Dict[str, nn.Module]:
        return {'bn': self.bn}

    def _fold(self) -> None:
        """Fold ``bn`` (its running statistics) into ``c``."""
        fuse_conv_bn(self.c, self.bn)
        self.bn = nn.Identity()


class TopFormerInvertedResidual(BaseModule):
    """MobileNetV2 inverted residual of the Token Pyramid Module, ``(B, in_channels, H, W)`` to
    ``(B, out_channels, H / stride, W / stride)`` (rounded up).

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
        deploy (bool): Build every conv+BN folded. Defaults to False.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int,
                 stride: int,
                 expand_ratio: float,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU'),
                 deploy: bool = False):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f'stride must be 1 or 2, got {stride}')
        hidden = int(round(in_channels * expand_ratio))
        self.use_shortcut = stride == 1 and in_channels == out_channels
        conv_bn = dict(norm_cfg=norm_cfg, deploy=deploy)
        layers = []
        if expand_ratio != 1:
            layers += [TopFormerConv2dBN(in_channels, hidden, 1, **conv_bn),
                       build_activation_layer(act_cfg)]
        layers += [
            TopFormerConv2dBN(hidden, hidden, kernel_size, stride, kernel_size // 2,
                              groups=hidden, **conv_bn),
            build_activation_layer(act_cfg),
            TopFormerConv2dBN(hidden, out_channels, 1, **conv_bn),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_shortcut else self.conv(x)


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
        deploy (bool): Build every conv+BN folded. Defaults to False.
    """

    def __init__(self,
                 layer_cfgs: Sequence[Sequence[int]],
                 tap_indices: Sequence[int],
                 stem_channels: int = 16,
                 in_channels: int = 3,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU'),
                 deploy: bool = False):
        super().__init__()
        self.tap_indices = tuple(tap_indices)
        self.stem = nn.Sequential(
            TopFormerConv2dBN(in_channels, stem_channels, 3, 2, 1, norm_cfg=norm_cfg,
                              deploy=deploy),
            build_activation_layer(act_cfg))
        self.layer_names = []
        channels = stem_channels
        for i, (kernel_size, expand_ratio, out_channels, stride) in enumerate(layer_cfgs):
            name = f'layer{i + 1}'
            self.add_module(
                name,
                TopFormerInvertedResidual(channels, out_channels, kernel_size, stride,
                                          expand_ratio, norm_cfg=norm_cfg, act_cfg=act_cfg,
                                          deploy=deploy))
            self.layer_names.append(name)
            channels = out_channels

    def forward(self, x: torch.Tensor,
                run_block: Optional[Callable[..., torch.Tensor]] = None) -> List[torch.Tensor]:
        """``(B, in_channels, H, W)`` -> the tapped maps, finest first. ``run_block(layer, x)``,
        if given, runs each inverted residual (the backbone's gradient checkpointing)."""
        x = self.stem(x)
        taps = []
        for i, name in enumerate(self.layer_names):
            layer = getattr(self, name)
            x = run_block(layer, x) if run_block is not None else layer(x)
            if i in self.tap_indices:
                taps.append(x)
        return taps


class TopFormerPyramidPoolAgg(nn.Module):
    """Pool every pyramid map to ``ceil(H_last / stride) x ceil(W_last / stride)``, concatenate:
    ``[(B, C_i, H_i, W_i)]`` -> ``(B, sum(C_i), ceil(H_last / stride), ceil(W_last / stride))``.

    ``H_last`` is the height of the coarsest map, so with stride 2 the tokens are at 1/64 of the
    input (8x8 for 512x512). Parameter-free.

    ONNX cannot express adaptive pooling whose output size does not divide the input size (e.g.
    a 7x7 map pooled to 4x4 at 224x224), nor adaptive pooling to a size computed from the input;
    during ONNX export the same average is computed exactly as two matrix products with
    bin-averaging matrices (:meth:`bin_average_matrix`). The matrices are built in the graph
    from the traced shapes (``arange`` and integer arithmetic on ``x.shape``, never Python
    ``int``), so an export with dynamic height/width recomputes them at every input size (a
    static export folds them to constants). Unlike the authors' export path, which swaps in a
    plain ``avg_pool2d``, this matches eager mode for every input size. Eager mode runs
    ``adaptive_avg_pool2d`` and is unaffected.
    """

    def __init__(self, stride: int = 2):
        super().__init__()
        self.stride = stride

    @staticmethod
    def bin_average_matrix(in_size, out_size, dtype: torch.dtype,
                           device: Optional[torch.device] = None) -> torch.Tensor:
        """``(out_size, in_size)`` matrix averaging the bins of ``adaptive_avg_pool``.

        The sizes are ints or, while tracing, the 0-dim tensors that ``x.shape`` yields; only
        tensor operations are applied to them, so a dynamic-shape export keeps them symbolic.
        """
        index = torch.arange(out_size, device=device)
        start = torch.div(index * in_size, out_size, rounding_mode='floor')
        end = torch.div((index + 1) * in_size + out_size - 1, out_size, rounding_mode='floor')
        position = torch.arange(in_size, device=device)
        inside = (position[None] >= start[:, None]) & (position[None] < end[:, None])
        return inside.to(dtype) / (end - start)[:, None].to(dtype)

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        height, width = inputs[-1].shape[-2:]
        size = ((height - 1) // self.stride + 1, (width - 1) // self.stride + 1)
        if torch.onnx.is_in_onnx_export():
            return torch.cat([self._pool_by_matmul(x, size) for x in inputs], dim=1)
        return torch.cat([F.adaptive_avg_pool2d(x, size) for x in inputs], dim=1)

    def _pool_by_matmul(self, x: torch.Tensor, size) -> torch.Tensor:
        # no int(): the sizes stay traced (symbolic under dynamic axes), see the class docstring
        rows = self.bin_average_matrix(x.shape[-2], size[0], x.dtype, x.device)
        cols = self.bin_average_matrix(x.shape[-1], size[1], x.dtype, x.device)
        return torch.matmul(torch.matmul(rows, x), cols.t())


class TopFormerAttention(BaseModule):
    """Multi-head self-attention on an NCHW token map with conv+BN projections,
    ``(B, dim, H, W)`` -> ``(B, dim, H, W)``.

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
        deploy (bool): Build every conv+BN folded. Defaults to False.
    """

    def __init__(self,
                 dim: int,
                 key_dim: int,
                 num_heads: int,
                 attn_ratio: float = 2.,
                 act_cfg: dict = dict(type='ReLU6'),
                 norm_cfg: dict = dict(type='BN'),
                 deploy: bool = False):
        super().__init__()
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.value_dim = int(attn_ratio * key_dim)
        conv_bn = dict(norm_cfg=norm_cfg, deploy=deploy)
        self.to_q = TopFormerConv2dBN(dim, key_dim * num_heads, **conv_bn)
        self.to_k = TopFormerConv2dBN(dim, key_dim * num_heads, **conv_bn)
        self.to_v = TopFormerConv2dBN(dim, self.value_dim * num_heads, **conv_bn)
        self.proj = nn.Sequential(
            build_activation_layer(act_cfg),
            TopFormerConv2dBN(self.value_dim * num_heads, dim, bn_weight_init=0., **conv_bn))

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


class TopFormerMlp(BaseModule):
    """Conv FFN: 1x1 conv+BN, 3x3 depthwise conv (with bias), activation, 1x1 conv+BN;
    ``(B, in_channels, H, W)`` -> same shape.

    Quirk kept from the authors' code: there is no activation between ``fc1`` and ``dwconv``.
    (``fc1``'s BN cannot fold further into ``dwconv``: its zero padding would see the BN shift.)
    """

    def __init__(self,
                 in_channels: int,
                 hidden_channels: int,
                 act_cfg: dict = dict(type='ReLU6'),
                 drop_rate: float = 0.,
                 norm_cfg: dict = dict(type='BN'),
                 deploy: bool = False):
        super().__init__()
        self.fc1 = TopFormerConv2dBN(in_channels, hidden_channels, norm_cfg=norm_cfg,
                                     deploy=deploy)
        self.dwconv = nn.Conv2d(hidden_channels, hidden_channels, 3, 1, 1, groups=hidden_channels)
        self.act = build_activation_layer(act_cfg)
        self.fc2 = TopFormerConv2dBN(hidden_channels, in_channels, norm_cfg=norm_cfg,
                                     deploy=deploy)
        self.drop = nn.Dropout(drop_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop(self.act(self.dwconv(self.fc1(x))))
        return self.drop(self.fc2(x))


class TopFormerBlock(BaseModule):
    """Transformer block of the Scale-aware Semantics Extractor (no LayerNorm: BN lives in the
    conv+BN projections): ``x + DropPath(attn(x))`` then ``x + DropPath(mlp(x))``;
    ``(B, dim, H, W)`` -> same shape."""

    def __init__(self,
                 dim: int,
                 key_dim: int,
                 num_heads: int,
                 mlp_ratio: float = 2.,
                 attn_ratio: float = 2.,
                 drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 act_cfg: dict = dict(type='ReLU6'),
                 norm_cfg: dict = dict(type='BN'),
                 deploy: bool = False):
        super().__init__()
        self.attn = TopFormerAttention(dim, key_dim, num_heads, attn_ratio, act_cfg, norm_cfg,
                                       deploy=deploy)
        self.mlp = TopFormerMlp(dim, int(dim * mlp_ratio), act_cfg, drop_rate, norm_cfg,
                                deploy=deploy)
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(x))
        return x + self.drop_path(self.mlp(x))


class TopFormerSemanticsExtractor(BaseModule):
    """Scale-aware Semantics Extractor: ``depth`` :class:`TopFormerBlock` in
    ``transformer_blocks``; ``(B, dim, H, W)`` -> same shape.

    Drop-path rates grow linearly from 0 to ``drop_path_rate`` over the blocks
    (:meth:`BaseHybridBackbone.drop_path_rates`, which rejects rates outside ``[0, 1)``).
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
                 norm_cfg: dict = dict(type='BN'),
                 deploy: bool = False):
        super().__init__()
        rates = BaseHybridBackbone.drop_path_rates(drop_path_rate, depth)
        self.transformer_blocks = nn.ModuleList(
            TopFormerBlock(dim, key_dim, num_heads, mlp_ratio, attn_ratio, drop_rate, rate,
                           act_cfg, norm_cfg, deploy=deploy) for rate in rates)

    def forward(self, x: torch.Tensor,
                run_block: Optional[Callable[..., torch.Tensor]] = None) -> torch.Tensor:
        """``run_block(block, x)``, if given, runs each block (the backbone's gradient
        checkpointing)."""
        for block in self.transformer_blocks:
            x = run_block(block, x) if run_block is not None else block(x)
        return x


class TopFormerSemanticsInjection(ReparameterizableMixin, BaseModule):
    """Semantics Injection Module (the authors' ``InjectionMultiSum``): ``x_local``
    ``(B, local_channels, H, W)`` and ``x_global`` ``(B, global_channels, h, w)`` ->
    ``(B, out_channels, H, W)``.

    ``local_embedding(x_local) * up(h_sigmoid(global_act(x_global))) +
    up(global_embedding(x_global))`` where each embedding is a 1x1 conv + BN without activation,
    ``h_sigmoid(x) = ReLU6(x + 3) / 6`` and ``up`` is bilinear resizing (``align_corners=False``)
    to the local map's size.

    :meth:`reparameterize` folds each embedding's BN into its conv; ``deploy=True`` builds the
    embeddings as biased convs without norm (keys ``*.conv.weight``, ``*.conv.bias``). Only a
    BatchNorm folds: another norm raises :class:`~mmhybrid.models.utils.UnfoldableNormError`.

    Args:
        local_channels (int): Channels of the token-pyramid map.
        global_channels (int): Channels of the matching slice of the global semantics.
        out_channels (int): Output channels.
        norm_cfg (dict): Norm layer config.
        deploy (bool): Build the folded structure. Defaults to False.
    """

    def __init__(self,
                 local_channels: int,
                 global_channels: int,
                 out_channels: int,
                 norm_cfg: dict = dict(type='BN'),
                 deploy: bool = False):
        super().__init__()
        self.deploy = deploy
        if deploy:  # the folded structure has no norm: check that the norm_cfg folds
            norm_name, norm = build_norm_layer(norm_cfg, out_channels)
            deploy_norm(self, f'local_embedding.{norm_name}', norm)
        conv = dict(kernel_size=1, norm_cfg=None if deploy else norm_cfg, act_cfg=None)
        self.local_embedding = ConvModule(local_channels, out_channels, **conv)
        self.global_embedding = ConvModule(global_channels, out_channels, **conv)
        self.global_act = ConvModule(global_channels, out_channels, **conv)
        # nn.Hardsigmoid is exactly the authors' h_sigmoid, ReLU6(x + 3) / 6.
        self.act = nn.Hardsigmoid()

    _embeddings = ('local_embedding', 'global_embedding', 'global_act')

    def _norm_slots(self) -> Dict[str, Optional[nn.Module]]:
        return {f'{name}.{getattr(self, name).norm_name}': getattr(self, name).norm
                for name in self._embeddings}

    def _fold(self) -> None:
        """Fold the BN of ``local_embedding``, ``global_embedding`` and ``global_act`` into
        their convs (the norm becomes ``nn.Identity``)."""
        for name in self._embeddings:
            embedding = getattr(self, name)
            fuse_conv_bn(embedding.conv, embedding.norm)
            setattr(embedding, embedding.norm_name, nn.Identity())

    def forward(self, x_local: torch.Tensor, x_global: torch.Tensor) -> torch.Tensor:
        size = x_local.shape[-2:]
        # Quirk kept from the authors' code: the gate goes through h_sigmoid *before* upsampling.
        gate = F.interpolate(self.act(self.global_act(x_global)), size=size, mode='bilinear',
                             align_corners=False)
        semantics = F.interpolate(self.global_embedding(x_global), size=size, mode='bilinear',
                                  align_corners=False)
        return self.local_embedding(x_local) * gate + semantics


# ------------------------------------------------------------------------------- backbone
@MODELS.register_module()
class TopFormer(BaseHybridBackbone):
    """TopFormer: Token Pyramid Module + Scale-aware Semantics Extractor + Semantics Injection.

    A PyTorch re-implementation of `TopFormer <https://arxiv.org/abs/2204.05525>`_ that behaves
    like the authors' code (``hustvl/TopFormer``) and keeps its state-dict names (``tpm``,
    ``trans``, ``SIM``), so converted official checkpoints load with ``strict=True``
    (see ``tools/model_converters/topformer2mmhybrid.py``).

    Data flow: the Token Pyramid Module (MobileNetV2 blocks with ReLU) taps maps at strides
    4/8/16/32; all taps are average-pooled to ``ceil(H/64) x ceil(W/64)`` and concatenated
    (the tokens); 4 attention blocks (ReLU6, unscaled logits, conv FFN) turn them into global
    semantics, which are split back per scale (chunk sizes = tap channels) and injected into the
    taps at strides 8/16/32 by the Semantics Injection Modules. Any input size works.

    Two explicit modes (``mode``):

    - ``'dense'`` (segmentation, detection): builds the SIMs. Candidate outputs are
      ``[tap 0 (stride 4, C0 channels), SIM 1 (stride 8), SIM 2 (stride 16), SIM 3 (stride 32)]``
      (SIM outputs have ``injection_channels`` channels); ``out_indices`` defaults to ``(1, 2, 3)``,
      the three maps the authors' segmentation head consumes.
    - ``'global'`` (classification): no SIMs (the authors' ``injection=False``; the ImageNet
      checkpoints have no SIM weights). Candidates are ``[tap 0, tap 1, tap 2, tap 3, global
      semantics]``; ``out_indices`` defaults to ``(4,)``, the ``(B, sum(tap channels), H/64, W/64)``
      semantics map that the classifier pools (``GlobalAveragePooling`` neck).

    ``feature_info`` (and ``out_channels``) describe the selected candidates; the outputs always
    come in candidate order, whatever the order of ``out_indices``.

    Deliberate deviations from the authors' code: ``init_weights()`` works without ``init_cfg``
    (theirs raises ``AttributeError``); the zero-initialised BN scale of each attention output
    projection stays 0 for every norm type (their init resets it to 1 for plain ``BatchNorm2d`` but
    not for ``SyncBatchNorm``, which all their configs use); no ``width_mult`` (channels are used as
    given, as at their default width 1.0). Added: ``with_cp`` (gradient checkpointing of every
    token-pyramid layer and transformer block) and ``deploy`` (every conv+BN built folded, the
    structure :meth:`switch_to_deploy` produces).

    Args:
        arch (str | dict): ``'tiny'``, ``'small'`` or ``'base'`` (aliases ``'t'``, ``'s'``,
            ``'b'``), or a dict with keys ``layer_cfgs`` (rows ``[kernel_size, expand_ratio,
            out_channels, stride]``), ``tap_indices`` (0-based rows forming the pyramid; the last
            one must be the last row), ``num_heads`` and ``injection_channels`` (int or one per
            injected scale); optional ``stem_channels`` (16), ``depth`` (4), ``key_dim`` (16),
            ``attn_ratio`` (2), ``mlp_ratio`` (2). Defaults to ``'tiny'``.
        mode (str): ``'dense'`` or ``'global'``, see above. Defaults to ``'dense'``.
        injection_channels (int | Sequence[int], optional): Replaces the preset's SIM width
            (``arch['injection_channels']``), e.g. 128 for Base as in the authors' Base
            Cityscapes config. Defaults to None (the preset's: 128 / 192 / 256).
        out_indices (Sequence[int] | int, optional): Which candidate outputs to return (negative
            indices allowed, no duplicates). Defaults to ``None``: ``(1, 2, 3)`` for ``'dense'``,
            ``(4,)`` for ``'global'``.
        in_channels (int): Image channels. Defaults to 3.
        token_pool_stride (int): Extra down-sampling of the coarsest tap before the transformer
            (the authors' ``c2t_stride``). Defaults to 2.
        drop_rate (float): Dropout in the FFNs. Defaults to 0.
        drop_path_rate (float): Stochastic depth in [0, 1), linear over the blocks.
            Defaults to 0.1.
        norm_cfg (dict): Norm layer config. Defaults to ``dict(type='BN')`` (the authors train
            with ``SyncBN``).
        act_cfg (dict): Activation of the semantics extractor. Defaults to ``dict(type='ReLU6')``.
        tpm_act_cfg (dict): Activation of the token pyramid (the authors never pass their
            ``act_layer`` to it, so it is ReLU). Defaults to ``dict(type='ReLU')``.
        frozen_stages (int): Stages to freeze (``requires_grad=False`` and eval mode), from
            construction on: stage ``i < 4`` is the token-pyramid part ending at tap ``i`` (stage 0
            includes the stem), stage 4 the semantics extractor (everything but the SIMs). -1
            freezes nothing. Defaults to -1.
        norm_eval (bool): Keep every BN of the backbone in eval mode while training.
            Defaults to False.
        with_cp (bool): Gradient checkpointing of the token-pyramid layers and the transformer
            blocks (saves memory, costs a second forward). Defaults to False.
        deploy (bool): Build the folded inference structure (convs with bias, no BN), which
            loads the state dict of a model after :meth:`switch_to_deploy`. Defaults to False.
        init_cfg (dict | list[dict], optional): Applied after the authors' initialisation (conv
            weights ~ N(0, sqrt(2 / fan_out)), BN 1/0, linear N(0, 0.01)); e.g.
            ``dict(type='Pretrained', checkpoint=..., prefix='backbone.')``. Defaults to None.

    Example:
        >>> import torch
        >>> from mmhybrid.models import TopFormer
        >>> model = TopFormer('tiny').eval()
        >>> for out in model(torch.rand(1, 3, 512, 512)):
        ...     print(tuple(out.shape))
        (1, 128, 64, 64)
        (1, 128, 32, 32)
        (1, 128, 16, 16)
        >>> [info['reduction'] for info in model.feature_info]
        [8, 16, 32]
        >>> cls_model = TopFormer('tiny', mode='global').eval()
        >>> print(tuple(cls_model(torch.rand(1, 3, 224, 224))[0].shape))
        (1, 208, 4, 4)
    """

    #: ImageNet pre-training ('global' mode) has no SIM modules; dense models start them anew.
    pretrained_optional_prefixes = ('SIM.', )
    arch_settings = ARCH_SETTINGS
    arch_aliases = {'t': 'tiny', 's': 'small', 'b': 'base'}
    arch_keys = ('layer_cfgs', 'tap_indices', 'num_heads', 'injection_channels') + tuple(
        ARCH_DEFAULTS)
    arch_defaults = ARCH_DEFAULTS
    modes = ('dense', 'global')

    def __init__(self,
                 arch: Union[str, dict] = 'tiny',
                 mode: str = 'dense',
                 out_indices: Optional[Union[int, Sequence[int]]] = None,
                 in_channels: int = 3,
                 injection_channels: Optional[Union[int, Sequence[int]]] = None,
                 token_pool_stride: int = 2,
                 drop_rate: float = 0.,
                 drop_path_rate: float = 0.1,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU6'),
                 tpm_act_cfg: dict = dict(type='ReLU'),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 deploy: bool = False,
                 init_cfg: Optional[Union[dict, List[dict]]] = None):
        super().__init__(init_cfg=init_cfg)
        self.arch = self.parse_arch(arch)
        if injection_channels is not None:
            self.arch['injection_channels'] = injection_channels
            self._check_arch(self.arch)
        if mode not in self.modes:
            raise ValueError(f'mode must be one of {self.modes}, got {mode!r}: use "dense" for '
                             'segmentation/detection and "global" for classification.')
        self.mode = mode

        layer_cfgs = self.arch['layer_cfgs']
        self.tap_indices = tuple(self.arch['tap_indices'])
        self.tap_channels = tuple(layer_cfgs[i][2] for i in self.tap_indices)
        strides = [2]  # the stem
        for row in layer_cfgs:
            strides.append(strides[-1] * row[3])
        self.tap_strides = tuple(strides[i + 1] for i in self.tap_indices)
        self.num_scales = len(self.tap_indices)
        self.embed_dims = sum(self.tap_channels)
        injection = self.arch['injection_channels']
        self.injection_channels = tuple(
            [injection] * (self.num_scales - 1) if isinstance(injection, int) else injection)
        self.token_pool_stride = token_pool_stride

        # Dense: tap 0 + one SIM per injected scale; global: every tap + the semantics.
        self.num_stages = self.num_scales + (mode == 'global')
        if out_indices is None:
            out_indices = tuple(range(1, self.num_stages)) if mode == 'dense' else (
                self.num_stages - 1, )
        self.out_indices = self.parse_out_indices(out_indices)
        self.frozen_stages = self.check_frozen_stages(frozen_stages, self.num_scales)
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        self.deploy = deploy

        self.tpm = TopFormerTokenPyramid(
            layer_cfgs, self.tap_indices, self.arch['stem_channels'], in_channels,
            norm_cfg=norm_cfg, act_cfg=tpm_act_cfg, deploy=deploy)
        self.ppa = TopFormerPyramidPoolAgg(stride=token_pool_stride)
        self.trans = TopFormerSemanticsExtractor(
            self.embed_dims, self.arch['depth'], self.arch['key_dim'], self.arch['num_heads'],
            mlp_ratio=self.arch['mlp_ratio'], attn_ratio=self.arch['attn_ratio'],
            drop_rate=drop_rate, drop_path_rate=drop_path_rate, act_cfg=act_cfg,
            norm_cfg=norm_cfg, deploy=deploy)
        if mode == 'dense':
            # SIM.0 is a parameter-free placeholder so that SIM.i injects into tap i, as in the
            # authors' state dict.
            self.SIM = nn.ModuleList([nn.Identity()] + [
                TopFormerSemanticsInjection(self.tap_channels[i], self.tap_channels[i],
                                            self.injection_channels[i - 1], norm_cfg=norm_cfg,
                                            deploy=deploy)
                for i in range(1, self.num_scales)
            ])
        self._freeze_stages()

    @classmethod
    def _check_arch(cls, arch: dict) -> None:
        rows = arch['layer_cfgs']
        if not isinstance(rows, (list, tuple)) or not rows or any(
                not isinstance(row, (list, tuple)) or len(row) != 4 for row in rows):
            raise ValueError('TopFormer: arch["layer_cfgs"] must be a non-empty list of '
                             f'[kernel_size, expand_ratio, out_channels, stride] rows, got {rows}')
        taps = list(arch['tap_indices'])
        if len(taps) < 2 or sorted(set(taps)) != taps or taps[0] < 0:
            raise ValueError(f'TopFormer: arch["tap_indices"] must be >= 2 strictly increasing '
                             f'row indices, got {taps}')
        if taps[-1] != len(rows) - 1:
            raise ValueError(f'TopFormer: the last tap index must be the last layer_cfgs row '
                             f'({len(rows) - 1}), got {taps[-1]}: later rows would be computed '
                             'but never used.')
        injection = arch['injection_channels']
        if not isinstance(injection, int) and len(injection) != len(taps) - 1:
            raise ValueError(
                f'TopFormer: arch["injection_channels"] needs one value per injected scale '
                f'({len(taps) - 1}: taps 1..{len(taps) - 1}), got {list(injection)}')

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """``(B, in_channels, H, W)`` -> the maps selected by ``out_indices``, in candidate
        order (see the class docstring and ``feature_info``)."""
        taps = self.tpm(x, self.run_block)
        semantics = self.trans(self.ppa(taps), self.run_block)
        if self.mode == 'global':
            candidates = taps + [semantics]
        else:
            chunks = semantics.split(self.tap_channels, dim=1)
            candidates = [taps[0]] + [
                self.SIM[i](taps[i], chunks[i]) for i in range(1, self.num_scales)
            ]
        return tuple(candidates[i] for i in self.out_indices)

    def _output_info(self) -> List[dict]:
        taps = [
            dict(num_chs=channels, reduction=stride, module=f'tpm.{self.tpm.layer_names[row]}')
            for channels, stride, row in zip(self.tap_channels, self.tap_strides,
                                             self.tap_indices)
        ]
        if self.mode == 'global':
            return taps + [dict(num_chs=self.embed_dims,
                                reduction=self.tap_strides[-1] * self.token_pool_stride,
                                module='trans')]
        return taps[:1] + [
            dict(num_chs=channels, reduction=self.tap_strides[i], module=f'SIM.{i}')
            for i, channels in enumerate(self.injection_channels, 1)
        ]

    def _init_from_scratch(self) -> None:
        """The authors' initialisation, then any non-``Pretrained`` ``init_cfg``."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
                fan_out //= module.groups
                nn.init.normal_(module.weight, 0, math.sqrt(2. / fan_out))
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, _BatchNorm) and module.affine:
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0, 0.01)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        for module in self.modules():
            if isinstance(module, TopFormerConv2dBN):
                module.reset_bn()
        if self.init_cfg:
            initialize(self, self.init_cfg)
        self._is_init = True

    def _stage_modules(self, stage: int) -> List[nn.Module]:
        if stage == self.num_scales:
            return [self.trans]
        first = 0 if stage == 0 else self.tap_indices[stage - 1] + 1
        modules = [self.tpm.stem] if stage == 0 else []
        return modules + [
            getattr(self.tpm, self.tpm.layer_names[i])
            for i in range(first, self.tap_indices[stage] + 1)
        ]

    def _frozen_modules(self) -> List[nn.Module]:
        return [
            module for stage in range(self.frozen_stages + 1)
            for module in self._stage_modules(stage)
        ]
