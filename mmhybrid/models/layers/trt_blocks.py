# Copyright (c) mmhybrid contributors. All rights reserved.
"""The two blocks TRT-ViT's MixBlocks are made of: the BottleNeck (:class:`TRTBottleneck`, with
:class:`ConvBNAct`, the conv + BN pair that folds) and the Transformer block
(:class:`TRTTransformerBlock`, with :class:`SpatialReductionAttention`).

The MixBlocks (:mod:`mmhybrid.models.layers.mixblock`) and the TRT-ViT backbone
(``backbones/trt_vit.py``, whose early stages are BottleNecks) are built from them; like the
MixBlocks, they are re-implemented from the paper's description, with no official code to
verify them against (see the MixBlock module for what the description fixes and what this
project chose).
"""
from typing import Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_activation_layer, build_norm_layer
from mmcv.cnn.bricks import DropPath
from mmengine.model import BaseModule

from mmhybrid.models.utils import pad_to_multiple
from mmhybrid.models.utils.deploy import fuse_conv_bn
from mmhybrid.models.utils.reparam import ReparameterizableMixin, deploy_norm

#: Per-head channel count of every TRT-ViT Transformer block (paper).
TRT_HEAD_DIM = 32
#: MLP hidden width / embedding width in every TRT-ViT Transformer block (paper).
TRT_MLP_RATIO = 3


def _check_positive_int(name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f'{name} must be a positive int, got {value!r}.')


class ConvBNAct(ReparameterizableMixin, ConvModule):
    """An mmcv ``ConvModule`` (conv -> BN -> activation) that folds its BN for inference.

    Unfolded, it is exactly ``ConvModule(..., norm_cfg=norm_cfg, act_cfg=act_cfg)`` (conv
    without bias, same state-dict keys ``conv.weight``, ``bn.*``). :meth:`reparameterize` folds
    ``bn`` into ``conv`` (which gains a bias) and removes ``bn``; ``deploy=True`` builds that
    folded structure directly: ``conv`` with a bias, no norm, keys ``conv.weight``,
    ``conv.bias``.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Kernel size.
        stride (int): Stride. Defaults to 1.
        padding (int): Zero padding. Defaults to 0.
        norm_cfg (dict): The norm after the conv; only a BatchNorm (BN, SyncBN) folds, another
            raises :class:`~mmhybrid.models.utils.UnfoldableNormError` with ``deploy=True`` or
            in :meth:`reparameterize`. Defaults to ``dict(type='BN')``.
        act_cfg (dict, optional): Activation after the norm; None for none.
            Defaults to ``dict(type='ReLU')``.
        deploy (bool): Build the folded structure. Defaults to False.

    Shapes:
        ``(B, in_channels, H, W)`` -> ``(B, out_channels, H', W')`` as the conv gives.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int,
                 stride: int = 1,
                 padding: int = 0,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: Optional[dict] = dict(type='ReLU'),
                 deploy: bool = False):
        if deploy:  # the folded structure has no norm: check that the norm_cfg folds
            norm_name, norm = build_norm_layer(norm_cfg, out_channels)
            deploy_norm(self, norm_name, norm)
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            norm_cfg=None if deploy else norm_cfg,
            act_cfg=act_cfg)
        self.deploy = deploy

    def _norm_slots(self) -> Dict[str, Optional[nn.Module]]:
        return {self.norm_name: self.norm} if self.norm_name else {}

    def _fold(self) -> None:
        """Fold ``bn`` into ``conv`` and remove ``bn`` (inference only: uses the BN running
        statistics)."""
        fuse_conv_bn(self.conv, self.norm)
        delattr(self, self.norm_name)
        self.norm_name = None
        self.with_norm = False
        self.with_bias = True
        self.turn_on_efficient_conv_bn_eval(False)


class TRTBottleneck(ReparameterizableMixin, BaseModule):
    """ResNet bottleneck with a configurable middle kernel (the paper's "BottleNeck", kernel K).

    ``1x1 (in -> mid)`` -> ``KxK, stride (mid -> mid)`` -> ``1x1 (mid -> out)``, each conv followed
    by BN, ReLU after the first two convs and after the residual sum; ``mid = out / expansion``.
    The shortcut is the identity, or a strided 1x1 conv + BN when the shape changes
    (ResNet v1.5: the stride sits on the KxK conv). :meth:`reparameterize` folds the BN of
    ``conv1``, ``conv2``, ``conv3`` and ``downsample`` into their convs (see :class:`ConvBNAct`);
    ``deploy=True`` builds the folded block directly.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels; must be divisible by ``expansion``.
        kernel_size (int): Kernel size ``K`` of the middle conv (odd). Defaults to 3.
        stride (int): Stride of the middle conv (1 or 2). Defaults to 1.
        expansion (int): ``out_channels / mid_channels``. Defaults to 4.
        drop_path_rate (float): Stochastic depth on the residual branch. Defaults to 0.
        norm_cfg (dict): Norm layer of the convs. Defaults to ``dict(type='BN')``.
        act_cfg (dict): Activation. Defaults to ``dict(type='ReLU')``.
        deploy (bool): Build the folded inference structure (convs with a bias, no BN).
            Defaults to False.
        init_cfg (dict, optional): Initialisation config. Defaults to None.

    Shapes:
        ``(B, in_channels, H, W)`` -> ``(B, out_channels, ceil(H / stride), ceil(W / stride))``.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int = 3,
                 stride: int = 1,
                 expansion: int = 4,
                 drop_path_rate: float = 0.,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU'),
                 deploy: bool = False,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        for name, value in (('in_channels', in_channels), ('out_channels', out_channels),
                            ('kernel_size', kernel_size), ('expansion', expansion)):
            _check_positive_int(name, value)
        if kernel_size % 2 == 0:
            raise ValueError(f'kernel_size must be odd so that "same" padding exists, '
                             f'got {kernel_size}.')
        if stride not in (1, 2):
            raise ValueError(f'stride must be 1 or 2, got {stride!r}.')
        if out_channels % expansion:
            raise ValueError(f'out_channels ({out_channels}) must be divisible by expansion '
                             f'({expansion}).')
        mid_channels = out_channels // expansion
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = stride
        self.deploy = deploy

        self.conv1 = ConvBNAct(
            in_channels, mid_channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg, deploy=deploy)
        self.conv2 = ConvBNAct(
            mid_channels,
            mid_channels,
            kernel_size,
            stride=stride,
            padding=kernel_size // 2,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
            deploy=deploy)
        self.conv3 = ConvBNAct(
            mid_channels, out_channels, 1, norm_cfg=norm_cfg, act_cfg=None, deploy=deploy)
        if stride != 1 or in_channels != out_channels:
            self.downsample = ConvBNAct(
                in_channels,
                out_channels,
                1,
                stride=stride,
                norm_cfg=norm_cfg,
                act_cfg=None,
                deploy=deploy)
        else:
            self.downsample = nn.Identity()
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()
        self.act = build_activation_layer(act_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv3(self.conv2(self.conv1(x)))
        return self.act(self.drop_path(out) + self.downsample(x))

    def _fold(self) -> None:
        """Fold the BN of ``conv1``, ``conv2``, ``conv3`` and of a projection ``downsample``
        into their convs (inference only)."""
        self.conv1.reparameterize()
        self.conv2.reparameterize()
        self.conv3.reparameterize()
        if isinstance(self.downsample, ConvBNAct):
            self.downsample.reparameterize()


class SpatialReductionAttention(BaseModule):
    """Multi-head self-attention whose keys/values come from a ``S``-times smaller map (PVT).

    With ``sr_ratio = S > 1``, keys and values are computed from the input downsampled by a
    ``S x S`` stride-``S`` conv followed by LayerNorm, so the cost is ``N * N / S^2`` instead of
    ``N^2``. A map whose sides are not multiples of ``S`` is zero-padded at the bottom/right
    first (ceil rounding, a deliberate deviation from PVT's floor), so no query loses its
    border keys and maps smaller than ``S`` (tiny inputs) still work.

    Args:
        embed_dims (int): Token width; must be divisible by ``head_dim``.
        sr_ratio (int): Spatial reduction ``S`` of keys/values. Defaults to 1.
        head_dim (int): Channels per head. Defaults to 32 (paper).
        qkv_bias (bool): Bias in the q/kv projections. Defaults to True.
        attn_drop_rate (float): Dropout on attention weights. Defaults to 0.
        proj_drop_rate (float): Dropout after the output projection. Defaults to 0.
    """

    def __init__(self,
                 embed_dims: int,
                 sr_ratio: int = 1,
                 head_dim: int = TRT_HEAD_DIM,
                 qkv_bias: bool = True,
                 attn_drop_rate: float = 0.,
                 proj_drop_rate: float = 0.,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        _check_positive_int('sr_ratio', sr_ratio)
        if embed_dims % head_dim:
            raise ValueError(f'embed_dims ({embed_dims}) must be divisible by head_dim '
                             f'({head_dim}); TRT-ViT fixes the head dim to 32.')
        self.embed_dims = embed_dims
        self.num_heads = embed_dims // head_dim
        self.head_dim = head_dim
        self.sr_ratio = sr_ratio
        self.attn_drop_rate = attn_drop_rate

        self.q = nn.Linear(embed_dims, embed_dims, bias=qkv_bias)
        self.kv = nn.Linear(embed_dims, 2 * embed_dims, bias=qkv_bias)
        if sr_ratio > 1:
            self.sr = nn.Conv2d(embed_dims, embed_dims, sr_ratio, stride=sr_ratio)
            self.norm = nn.LayerNorm(embed_dims)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop_rate)

    def forward(self, x: torch.Tensor, hw_shape: tuple) -> torch.Tensor:
        """``x``: ``(B, N, C)`` tokens of an ``hw_shape = (H, W)`` map; returns ``(B, N, C)``."""
        batch, num_tokens, channels = x.shape
        q = self.q(x).reshape(batch, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)
        if self.sr_ratio > 1:
            kv_source = x.transpose(1, 2).reshape(batch, channels, *hw_shape)
            if torch.jit.is_tracing():
                # Keep the (possibly zero) pad in traced/ONNX graphs, so a graph exported with
                # dynamic axes stays correct at sizes that need padding.
                pad_h, pad_w = (-hw_shape[0]) % self.sr_ratio, (-hw_shape[1]) % self.sr_ratio
                kv_source = F.pad(kv_source, (0, pad_w, 0, pad_h))
            else:
                kv_source, _ = pad_to_multiple(kv_source, self.sr_ratio)
            kv_source = self.norm(self.sr(kv_source).flatten(2).transpose(1, 2))
        else:
            kv_source = x
        kv = self.kv(kv_source).reshape(batch, -1, 2, self.num_heads, self.head_dim)
        k, v = kv.permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.attn_drop_rate if self.training else 0.)
        out = out.transpose(1, 2).reshape(batch, num_tokens, channels)
        return self.proj_drop(self.proj(out))


class TRTTransformerBlock(BaseModule):
    """Pre-norm Transformer block of TRT-ViT operating on NCHW maps.

    ``x = x + DropPath(SRA(LN(x)))``; ``x = x + DropPath(MLP(LN(x)))`` with a GELU MLP of ratio 3
    and spatial-reduction attention (head dim 32). The map is flattened to tokens inside, so the
    block drops into a conv network unchanged.

    Args:
        embed_dims (int): Channels (divisible by 32).
        sr_ratio (int): Spatial reduction ``S`` of keys/values. Defaults to 1.
        mlp_ratio (float): Hidden width of the MLP relative to ``embed_dims``. Defaults to 3.
        head_dim (int): Channels per attention head. Defaults to 32.
        drop_rate (float): Dropout after the attention/MLP projections. Defaults to 0.
        attn_drop_rate (float): Dropout on attention weights. Defaults to 0.
        drop_path_rate (float): Stochastic depth on both residual branches. Defaults to 0.
        init_cfg (dict, optional): Initialisation config. Defaults to None.

    Shapes:
        ``(B, embed_dims, H, W)`` -> ``(B, embed_dims, H, W)``.
    """

    def __init__(self,
                 embed_dims: int,
                 sr_ratio: int = 1,
                 mlp_ratio: float = TRT_MLP_RATIO,
                 head_dim: int = TRT_HEAD_DIM,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        _check_positive_int('embed_dims', embed_dims)
        hidden_dims = int(embed_dims * mlp_ratio)
        self.embed_dims = embed_dims
        self.norm1 = nn.LayerNorm(embed_dims)
        self.attn = SpatialReductionAttention(
            embed_dims,
            sr_ratio=sr_ratio,
            head_dim=head_dim,
            attn_drop_rate=attn_drop_rate,
            proj_drop_rate=drop_rate)
        self.norm2 = nn.LayerNorm(embed_dims)
        self.mlp = nn.Sequential(
            nn.Linear(embed_dims, hidden_dims), nn.GELU(), nn.Dropout(drop_rate),
            nn.Linear(hidden_dims, embed_dims), nn.Dropout(drop_rate))
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        tokens = x.flatten(2).transpose(1, 2)
        tokens = tokens + self.drop_path(self.attn(self.norm1(tokens), (height, width)))
        tokens = tokens + self.drop_path(self.mlp(self.norm2(tokens)))
        return tokens.transpose(1, 2).reshape(batch, channels, height, width)
