# Copyright (c) mmhybrid contributors. All rights reserved.
"""The local-global-local (LGL) bottleneck of EdgeViT.

Pan et al., "EdgeViTs: Competing Light-weight CNNs on Mobile Devices with Vision Transformers",
ECCV 2022, https://arxiv.org/abs/2205.03436.

An :class:`LGLBlock` is a :class:`LocalAgg` (depthwise-convolutional local aggregation) followed
by a :class:`SelfAttnBlock` whose :class:`GlobalSparseAttn` lets one token per ``r x r`` cell
attend to the other delegates and spreads the result back with a depthwise transposed conv
(``LocalProp``). All blocks take and return NCHW maps, so they can be dropped into any
convolutional backbone (``type='mmhybrid.LGLBlock'``). For inference, ``reparameterize()``
folds the BatchNorms and the positional-conv identities with the shared arithmetic of
:mod:`mmhybrid.models.utils.deploy`; ``deploy=True`` builds the folded structure directly.

Attribute names (``LocalAgg``, ``SelfAttn``, ``LocalProp``) keep the authors' capitalised
spelling so that checkpoints in their layout load with a plain key rename.
"""
from typing import Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmcv.cnn.bricks import DropPath
from mmengine.model import BaseModule

from mmhybrid.models.utils import crop_to
from mmhybrid.models.utils.deploy import (
    fold_identity_into_depthwise_conv,
    fold_preceding_bn_into_pointwise_conv,
)
from mmhybrid.models.utils.reparam import ReparameterizableMixin, deploy_norm
from mmhybrid.registry import MODELS


def _drop_path_or_identity(rate: float) -> nn.Module:
    return DropPath(rate) if rate > 0. else nn.Identity()


class ConvMlp(nn.Module):
    """Two 1x1 convs with an activation in between, on NCHW maps (``fc1``, ``act``, ``fc2``)."""

    def __init__(self, in_channels: int, hidden_channels: int, act_cfg: dict = dict(type='GELU'),
                 drop_rate: float = 0.):
        super().__init__()
        self.fc1 = nn.Conv2d(in_channels, hidden_channels, 1)
        self.act = build_activation_layer(act_cfg)
        self.fc2 = nn.Conv2d(hidden_channels, in_channels, 1)
        self.drop = nn.Dropout(drop_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class TokenMlp(nn.Module):
    """Two linear layers with an activation in between, on ``(B, N, C)`` tokens."""

    def __init__(self, in_channels: int, hidden_channels: int, act_cfg: dict = dict(type='GELU'),
                 drop_rate: float = 0.):
        super().__init__()
        self.fc1 = nn.Linear(in_channels, hidden_channels)
        self.act = build_activation_layer(act_cfg)
        self.fc2 = nn.Linear(hidden_channels, in_channels)
        self.drop = nn.Dropout(drop_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class LocalAgg(ReparameterizableMixin, BaseModule):
    """Local aggregation: the first "L" of the LGL bottleneck.

    Three residual updates of an NCHW map (no activation in the second one, as in the authors'
    code)::

        x = x + pos_embed(x)                                   # 3x3 depthwise conv (CPE)
        x = x + drop_path(conv2(attn(conv1(norm1(x)))))        # BN, 1x1, 5x5 depthwise, 1x1
        x = x + drop_path(mlp(norm2(x)))                       # BN, 1x1 -> act -> 1x1

    :meth:`reparameterize` folds both BatchNorms into the 1x1 convs that consume their outputs
    (``norm1`` into ``conv1``, ``norm2`` into ``mlp.fc1``; both convs already have a bias) and the
    identity of the first update into ``pos_embed``. The folded structure, which
    ``deploy=True`` builds directly, is the same module with ``norm1``/``norm2`` replaced by
    ``nn.Identity()`` (their state-dict entries vanish; no key is added) and a forward without
    the first residual addition.

    Args:
        embed_dims (int): Channels C.
        mlp_ratio (float): Hidden channels of the MLP divided by C. Defaults to 4.
        drop_rate (float): Dropout after each MLP layer. Defaults to 0.
        drop_path_rate (float): Stochastic depth of the two residual branches. Defaults to 0.
        norm_cfg (dict): The two norms (BatchNorm in the paper). Defaults to ``dict(type='BN')``.
            Only a BatchNorm can be folded (``deploy=True`` / :meth:`reparameterize` raise
            :class:`~mmhybrid.models.utils.UnfoldableNormError` for another).
        act_cfg (dict): MLP activation. Defaults to ``dict(type='GELU')``.
        deploy (bool): Build the folded inference structure. Defaults to False.
        init_cfg (dict, optional): Initialisation config.

    Shape:
        ``(B, C, H, W) -> (B, C, H, W)``.
    """

    def __init__(self, embed_dims: int, mlp_ratio: float = 4., drop_rate: float = 0.,
                 drop_path_rate: float = 0., norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='GELU'), deploy: bool = False,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        # Both norms act on the *input* of the following 1x1 conv, not on a conv's output. They
        # are registered before the convs so that mmcv's generic conv+BN pass (which pairs a
        # BatchNorm with the Conv2d registered just before it, and which stock parts of a task
        # model still go through) never folds them into the wrong conv.
        self.norm1 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.norm2 = build_norm_layer(norm_cfg, embed_dims)[1]
        if deploy:
            self.norm1 = deploy_norm(self, 'norm1', self.norm1)
            self.norm2 = deploy_norm(self, 'norm2', self.norm2)
        self.pos_embed = nn.Conv2d(embed_dims, embed_dims, 3, padding=1, groups=embed_dims)
        self.conv1 = nn.Conv2d(embed_dims, embed_dims, 1)
        self.attn = nn.Conv2d(embed_dims, embed_dims, 5, padding=2, groups=embed_dims)
        self.conv2 = nn.Conv2d(embed_dims, embed_dims, 1)
        self.mlp = ConvMlp(embed_dims, int(embed_dims * mlp_ratio), act_cfg, drop_rate)
        self.drop_path = _drop_path_or_identity(drop_path_rate)
        self.deploy = deploy

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pos_embed(x) if self.deploy else x + self.pos_embed(x)
        x = x + self.drop_path(self.conv2(self.attn(self.conv1(self.norm1(x)))))
        x = x + self.drop_path(self.mlp(self.norm2(x)))
        return x

    def _norm_slots(self) -> Dict[str, nn.Module]:
        return {'norm1': self.norm1, 'norm2': self.norm2}

    def _fold(self) -> None:
        """Fold ``norm1`` into ``conv1``, ``norm2`` into ``mlp.fc1`` and the CPE identity into
        ``pos_embed`` (inference only: uses the BN running statistics)."""
        fold_preceding_bn_into_pointwise_conv(self.norm1, self.conv1)
        fold_preceding_bn_into_pointwise_conv(self.norm2, self.mlp.fc1)
        fold_identity_into_depthwise_conv(self.pos_embed)
        self.norm1, self.norm2 = nn.Identity(), nn.Identity()


class GlobalSparseAttn(BaseModule):
    """Sparse global self-attention among one delegate token per ``sr_ratio x sr_ratio`` cell.

    1. *Select*: keep the top-left token of each cell. This is what the authors'
       ``AvgPool2d(kernel_size=1, stride=sr)`` does; it is **not** a cell average.
    2. *Attend*: multi-head self-attention among the delegates only (queries included).
    3. *Propagate* (``LocalProp``): a depthwise ``ConvTranspose2d`` with kernel = stride =
       ``sr_ratio`` spreads each delegate over its cell, then a LayerNorm (eps 1e-5, the
       authors' default) and the output projection.

    With ``sr_ratio == 1`` it is plain multi-head self-attention (no ``LocalProp``/``norm``).

    Deviation from the authors' code: H and W need not be multiples of ``sr_ratio``. Partial
    cells at the bottom/right keep their top-left (real) token, and the propagated map is cropped
    back to H x W. For divisible sizes this is exactly the authors' computation.

    Args:
        embed_dims (int): Channels C.
        num_heads (int): Attention heads; must divide C.
        sr_ratio (int): Cell size r. Defaults to 1.
        qkv_bias (bool): Bias of the qkv projection. Defaults to True.
        qk_scale (float, optional): Overrides the ``head_dim ** -0.5`` logit scale.
        attn_drop_rate (float): Attention-weight dropout. Defaults to 0.
        proj_drop_rate (float): Dropout after the output projection. Defaults to 0.
        norm_cfg (dict): Norm after ``LocalProp``. Defaults to ``dict(type='LN', eps=1e-5)``.
        init_cfg (dict, optional): Initialisation config.

    Shape:
        ``x``: ``(B, H*W, C)`` tokens in row-major order, plus ``hw_shape=(H, W)``;
        returns ``(B, H*W, C)``.
    """

    def __init__(self, embed_dims: int, num_heads: int, sr_ratio: int = 1, qkv_bias: bool = True,
                 qk_scale: Optional[float] = None, attn_drop_rate: float = 0.,
                 proj_drop_rate: float = 0., norm_cfg: dict = dict(type='LN', eps=1e-5),
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims ({embed_dims}) must be divisible by num_heads '
                             f'({num_heads}).')
        if int(sr_ratio) != sr_ratio or sr_ratio < 1:
            raise ValueError(f'sr_ratio must be a positive integer, got {sr_ratio!r}.')
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.sr_ratio = int(sr_ratio)
        self.scale = qk_scale or (embed_dims // num_heads)**-0.5
        self.attn_drop_rate = attn_drop_rate
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop_rate)
        if self.sr_ratio > 1:
            self.LocalProp = nn.ConvTranspose2d(
                embed_dims, embed_dims, self.sr_ratio, stride=self.sr_ratio, groups=embed_dims)
            self.norm = build_norm_layer(norm_cfg, embed_dims)[1]

    def forward(self, x: torch.Tensor, hw_shape: tuple) -> torch.Tensor:
        batch, _, channels = x.shape
        height, width = hw_shape
        sr = self.sr_ratio
        if sr > 1:
            grid = x.transpose(1, 2).reshape(batch, channels, height, width)
            delegates = grid[:, :, ::sr, ::sr]
            cells_h, cells_w = delegates.shape[-2:]
            x = delegates.flatten(2).transpose(1, 2)

        # qkv channels are laid out as [3][heads][head_dim] (timm layout, weight compatible).
        qkv = self.qkv(x).reshape(batch, -1, 3, self.num_heads, channels // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        x = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.attn_drop_rate if self.training else 0., scale=self.scale)
        x = x.transpose(1, 2).reshape(batch, -1, channels)

        if sr > 1:
            x = x.transpose(1, 2).reshape(batch, channels, cells_h, cells_w)
            x = crop_to(self.LocalProp(x), height, width)
            x = self.norm(x.flatten(2).transpose(1, 2))
        return self.proj_drop(self.proj(x))


class SelfAttnBlock(ReparameterizableMixin, BaseModule):
    """Global sparse attention block: the "G" and the final "L" of the LGL bottleneck.

    A residual depthwise 3x3 positional conv on the NCHW map, then a pre-norm transformer layer
    on its tokens (LayerNorm eps 1e-6 as in the authors' model-level ``norm_layer``)::

        x = x + pos_embed(x)
        t = x + drop_path(attn(norm1(x)))           # GlobalSparseAttn
        t = t + drop_path(mlp(norm2(t)))            # Linear -> act -> Linear

    Args:
        embed_dims (int): Channels C.
        num_heads (int): Attention heads.
        sr_ratio (int): Cell size of :class:`GlobalSparseAttn`. Defaults to 1.
        mlp_ratio (float): MLP hidden size divided by C. Defaults to 4.
        qkv_bias (bool): Defaults to True.
        qk_scale (float, optional): Overrides the attention logit scale.
        drop_rate (float): Dropout of the MLP and attention output. Defaults to 0.
        attn_drop_rate (float): Attention-weight dropout. Defaults to 0.
        drop_path_rate (float): Stochastic depth. Defaults to 0.
        norm_cfg (dict): The two pre-norms. Defaults to ``dict(type='LN', eps=1e-6)``.
        attn_norm_cfg (dict): Norm after ``LocalProp``. Defaults to ``dict(type='LN', eps=1e-5)``.
        act_cfg (dict): MLP activation. Defaults to ``dict(type='GELU')``.
        deploy (bool): Build the folded inference structure (see :meth:`reparameterize`; same
            modules and state-dict keys, the identity lives in ``pos_embed``). Defaults to False.
        init_cfg (dict, optional): Initialisation config.

    Shape:
        ``(B, C, H, W) -> (B, C, H, W)``; any H, W.
    """

    def __init__(self, embed_dims: int, num_heads: int, sr_ratio: int = 1, mlp_ratio: float = 4.,
                 qkv_bias: bool = True, qk_scale: Optional[float] = None, drop_rate: float = 0.,
                 attn_drop_rate: float = 0., drop_path_rate: float = 0.,
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 attn_norm_cfg: dict = dict(type='LN', eps=1e-5),
                 act_cfg: dict = dict(type='GELU'), deploy: bool = False,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.pos_embed = nn.Conv2d(embed_dims, embed_dims, 3, padding=1, groups=embed_dims)
        self.norm1 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.attn = GlobalSparseAttn(
            embed_dims, num_heads, sr_ratio=sr_ratio, qkv_bias=qkv_bias, qk_scale=qk_scale,
            attn_drop_rate=attn_drop_rate, proj_drop_rate=drop_rate, norm_cfg=attn_norm_cfg)
        self.norm2 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.mlp = TokenMlp(embed_dims, int(embed_dims * mlp_ratio), act_cfg, drop_rate)
        self.drop_path = _drop_path_or_identity(drop_path_rate)
        self.deploy = deploy

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pos_embed(x) if self.deploy else x + self.pos_embed(x)
        batch, channels, height, width = x.shape
        x = x.flatten(2).transpose(1, 2)
        x = x + self.drop_path(self.attn(self.norm1(x), (height, width)))
        x = x + self.drop_path(self.mlp(self.norm2(x)))
        return x.transpose(1, 2).reshape(batch, channels, height, width)

    def _fold(self) -> None:
        """Fold the identity of the positional-conv residual into ``pos_embed``."""
        fold_identity_into_depthwise_conv(self.pos_embed)


@MODELS.register_module()
class LGLBlock(ReparameterizableMixin, BaseModule):
    """EdgeViT's local-global-local bottleneck: :class:`LocalAgg` then :class:`SelfAttnBlock`.

    Args:
        embed_dims (int): Channels C.
        num_heads (int): Attention heads (must divide C).
        sr_ratio (int): Cell size of the sparse attention. Defaults to 1.
        mlp_ratio (float): MLP expansion of both sub-blocks. Defaults to 4.
        with_local_agg (bool, optional): Build the :class:`LocalAgg`. Defaults to
            ``sr_ratio > 1``, as the authors (their last stage has none).
        qkv_bias (bool): Defaults to True.
        qk_scale (float, optional): Overrides the attention logit scale.
        drop_rate (float): Dropout of MLPs and attention output. Defaults to 0.
        attn_drop_rate (float): Attention-weight dropout. Defaults to 0.
        drop_path_rate (float): Stochastic depth, shared by both sub-blocks. Defaults to 0.
        norm_cfg (dict): BatchNorms of :class:`LocalAgg`. Defaults to ``dict(type='BN')``.
        act_cfg (dict): MLP activation. Defaults to ``dict(type='GELU')``.
        deploy (bool): Build the folded inference structure of both sub-blocks (see
            :meth:`reparameterize`), into which a folded state dict loads strictly. Defaults
            to False.
        init_cfg (dict, optional): Initialisation config.

    Shape:
        ``(B, C, H, W) -> (B, C, H, W)``; any H, W.

    Example:
        >>> import torch
        >>> from mmhybrid.registry import MODELS
        >>> block = MODELS.build(dict(type='mmhybrid.LGLBlock', embed_dims=64, num_heads=2,
        ...                           sr_ratio=2))
        >>> block(torch.rand(1, 64, 15, 20)).shape
        torch.Size([1, 64, 15, 20])

        Plugged into a stock network: an LGL bottleneck appended to the third stage of
        torchvision's ResNet-18 (256 channels, stride 16). For inference the free function
        :func:`~mmhybrid.models.utils.switch_to_deploy` folds the block (its
        :meth:`reparameterize`) and the ResNet's own conv+BN pairs:

        >>> import torch.nn as nn
        >>> from torchvision.models import resnet18
        >>> from mmhybrid.models.layers import LGLBlock
        >>> from mmhybrid.models.utils import switch_to_deploy
        >>> net = resnet18(num_classes=10)
        >>> net.layer3 = nn.Sequential(net.layer3, LGLBlock(256, num_heads=4, sr_ratio=2))
        >>> x = torch.rand(2, 3, 96, 80)
        >>> net(x).shape
        torch.Size([2, 10])
        >>> with torch.no_grad():
        ...     expected = net.eval()(x)
        ...     folded = switch_to_deploy(net)(x)
        >>> torch.allclose(folded, expected, atol=1e-4)
        True
    """

    def __init__(self, embed_dims: int, num_heads: int, sr_ratio: int = 1, mlp_ratio: float = 4.,
                 with_local_agg: Optional[bool] = None, qkv_bias: bool = True,
                 qk_scale: Optional[float] = None, drop_rate: float = 0.,
                 attn_drop_rate: float = 0., drop_path_rate: float = 0.,
                 norm_cfg: dict = dict(type='BN'), act_cfg: dict = dict(type='GELU'),
                 deploy: bool = False, init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if with_local_agg is None:
            with_local_agg = sr_ratio > 1
        self.LocalAgg = LocalAgg(
            embed_dims, mlp_ratio=mlp_ratio, drop_rate=drop_rate, drop_path_rate=drop_path_rate,
            norm_cfg=norm_cfg, act_cfg=act_cfg, deploy=deploy) if with_local_agg else nn.Identity()
        self.SelfAttn = SelfAttnBlock(
            embed_dims, num_heads, sr_ratio=sr_ratio, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias,
            qk_scale=qk_scale, drop_rate=drop_rate, attn_drop_rate=attn_drop_rate,
            drop_path_rate=drop_path_rate, act_cfg=act_cfg, deploy=deploy)
        self.deploy = deploy

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.SelfAttn(self.LocalAgg(x))

    def _fold(self) -> None:
        """Fold both sub-blocks (:class:`LocalAgg`: its two BatchNorms into ``conv1``/
        ``mlp.fc1`` and the CPE identity into ``pos_embed``; :class:`SelfAttnBlock`: the CPE
        identity). The result equals ``LGLBlock(..., deploy=True)`` loaded with its state
        dict."""
        if isinstance(self.LocalAgg, LocalAgg):
            self.LocalAgg.reparameterize()
        self.SelfAttn.reparameterize()
