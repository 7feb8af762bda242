# Copyright (c) mmhybrid contributors. All rights reserved.
"""Hierarchical multi-head self-attention (H-MHSA), the attention of TransCNN / HAT-Net.

Paper: `Vision Transformers with Hierarchical Attention <https://arxiv.org/abs/2106.03180>`_
(first titled "Transformer in Convolutional Neural Networks"). Re-implemented from the paper
and the behaviour of the authors' code; no code of theirs is used (their repository has no licence).
"""
from typing import Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule

from mmhybrid.registry import MODELS
from ..utils import crop_to, pad_to_multiple
from ..utils.deploy import fold_preceding_bn_into_pointwise_conv
from ..utils.reparam import ReparameterizableMixin, deploy_norm


@MODELS.register_module()
class HMHSA(ReparameterizableMixin, BaseModule):
    """Hierarchical multi-head self-attention on NCHW feature maps.

    With ``grid_size > 1`` the attention is computed in two steps:

    1. **local**: ``q, k, v = qkv(norm(x))`` attend inside non-overlapping ``grid_size x
       grid_size`` windows (``grid_size`` is the window side in tokens), then
       ``grid_x = grid_norm(x + local)`` -- the residual uses the *un-normalised* input;
    2. **global**: every token of ``grid_x`` queries keys/values computed from
       ``ds_norm(AvgPool_{ds_ratio}(grid_x))``, i.e. each ``ds_ratio x ds_ratio`` cell of the
       window-attended map acts as one token; the result is added to ``grid_x``.

    With ``grid_size == 1`` it is plain multi-head self-attention over all tokens.
    The output is ``Dropout2d(proj(.))``, plus ``x`` when ``add_identity`` is set.

    Channel layouts follow the authors' checkpoints: the ``qkv`` conv outputs
    ``[3][num_heads][head_dim]`` (all queries first, then keys, then values, each head-major) and
    ``kv`` outputs ``[2][num_heads][head_dim]``. All projections are 1x1 convs with bias.

    **Any input size** (deviation from the authors' code, which requires the map to be divisible
    by ``grid_size`` and ``ds_ratio``): the local step zero-pads the map at the bottom/right to a
    multiple of ``grid_size`` and masks the padded keys out of the softmax, then crops back; the
    global step pools with ``ceil_mode=True``, so a border cell averages only the pixels it
    covers. When the map is divisible, both are exactly the authors' computation.

    **Plug-in use.** The class is an mmcv plug-in (``in_channels`` is the first argument and
    ``add_identity`` defaults to True, like mmcv's ``NonLocal2d``/``GeneralizedAttention``), so a
    stock mmdet/mmseg ``ResNet`` inserts it through ``plugins=`` (see the second example and
    ``configs/hatnet/resnet50-hmhsa_8xb32_in1k.py``).

    **Dynamic-shape ONNX export.** :meth:`set_dynamic_export` tells the module that the trace
    being recorded gets dynamic height/width axes; the exporter
    (:func:`mmhybrid.deploy.export.export_onnx` with ``dynamic=True``) sets it for the
    export and resets it afterwards. Nothing else reads it: eager mode is unaffected.

    **Deploy.** :meth:`reparameterize` (or ``deploy=True``) folds a BatchNorm ``norm`` into the
    1x1 ``qkv`` and ``ds_norm`` into the 1x1 ``kv`` that consume them (exact: no padding or
    grouping in between). ``grid_norm`` is not folded: it normalises ``x + local``, which the
    output reuses as a residual. GroupNorm/LayerNorm-style norms (HAT-Net's design) stay in the
    deployed block; a BatchNorm without running statistics raises
    :class:`~mmhybrid.models.utils.UnfoldableNormError` (the protocol of
    :mod:`mmhybrid.models.utils.reparam`).

    Args:
        in_channels (int): Channels of the input (and output) map.
        head_dim (int): Channels per head; must divide ``in_channels``. Defaults to 64.
        grid_size (int): Window side of the local step; 1 disables the hierarchy.
            Defaults to 1.
        ds_ratio (int): Pooling kernel/stride that turns windows into global tokens.
            Only used when ``grid_size > 1``. Defaults to 1.
        norm_cfg (dict): Norm of the input, of the window result and of the pooled map
            (``norm``, ``grid_norm``, ``ds_norm``). TransCNN uses BN, HAT-Net
            ``dict(type='GN', num_groups=1, eps=1e-6)``. Defaults to ``dict(type='BN')``.
        drop_rate (float): ``Dropout2d`` probability on the output. Defaults to 0.
        add_identity (bool): Return ``x + attention(x)`` instead of ``attention(x)``.
            Defaults to True (plug-in use); the TransCNN/HAT-Net blocks add the residual
            themselves, through drop path.
        with_proj_norm (bool): Create the norm ``proj_norm`` that HAT-Net's checkpoints contain
            but its forward never uses. It takes no part in the computation (it receives no
            gradient; DDP then needs ``find_unused_parameters=True``). Defaults to False.
        deploy (bool): Build the folded structure of :meth:`reparameterize` (BatchNorm
            ``norm``/``ds_norm`` replaced by ``Identity``), so a folded state dict loads
            strictly. Defaults to False.
        init_cfg (dict | list[dict], optional): Initialisation config. Defaults to truncated
            normal (std 0.02, bias 0) for the convs and 1/0 for the norms, as the authors do.

    Example:
        >>> import torch
        >>> from mmhybrid.models.layers import HMHSA
        >>> attn = HMHSA(64, head_dim=32, grid_size=8, ds_ratio=4)
        >>> attn(torch.rand(2, 64, 30, 45)).shape
        torch.Size([2, 64, 30, 45])

    Example (plugged into a stock ResNet bottleneck, after its 3x3 conv):
        >>> import torch
        >>> import mmhybrid.models  # registers 'mmhybrid.HMHSA'
        >>> from mmdet.models.backbones.resnet import Bottleneck
        >>> plugin = dict(cfg=dict(type='mmhybrid.HMHSA', head_dim=64, grid_size=7, ds_ratio=2),
        ...               position='after_conv2')
        >>> block = Bottleneck(1024, 256, plugins=[plugin]).eval()
        >>> type(block.hmhsa).__name__, block.hmhsa.in_channels
        ('HMHSA', 256)
        >>> block(torch.rand(1, 1024, 14, 14)).shape
        torch.Size([1, 1024, 14, 14])
    """

    _abbr_ = 'hmhsa'  # mmcv's build_plugin_layer names the module `hmhsa{postfix}`

    def __init__(self,
                 in_channels: int,
                 head_dim: int = 64,
                 grid_size: int = 1,
                 ds_ratio: int = 1,
                 norm_cfg: dict = dict(type='BN'),
                 drop_rate: float = 0.,
                 add_identity: bool = True,
                 with_proj_norm: bool = False,
                 deploy: bool = False,
                 init_cfg: Optional[dict] = [
                     dict(type='TruncNormal', layer='Conv2d', std=.02, bias=0.),
                     dict(type='Constant', layer=['_BatchNorm', 'GroupNorm'], val=1., bias=0.)
                 ]):
        super().__init__(init_cfg=init_cfg)
        if head_dim <= 0 or in_channels % head_dim != 0:
            raise ValueError(f'HMHSA: head_dim={head_dim} must be positive and divide '
                             f'in_channels={in_channels}; pick a head_dim among the divisors '
                             f'of {in_channels}.')
        if grid_size < 1 or ds_ratio < 1:
            raise ValueError(f'HMHSA: grid_size ({grid_size}) and ds_ratio ({ds_ratio}) '
                             'must be >= 1.')
        self.in_channels = in_channels
        self.head_dim = head_dim
        self.num_heads = in_channels // head_dim
        self.grid_size = grid_size
        self.ds_ratio = ds_ratio
        self.add_identity = add_identity

        # reparameterize() names its pairs; the norms stay registered before the convs only
        # because mmhybrid.models.utils.switch_to_deploy ends with mmcv's order-based conv+BN
        # pass over the whole model, which must not pair the unfoldable grid_norm with a conv.
        def folding_norm(slot):  # a norm that deploy folds when it is a BatchNorm
            built = build_norm_layer(norm_cfg, in_channels)[1]
            return deploy_norm(self, slot, built) if deploy else built

        self.norm = folding_norm('norm')
        if with_proj_norm:
            # Present in HAT-Net's checkpoints, never used by its forward.
            self.proj_norm = build_norm_layer(norm_cfg, in_channels)[1]
        if grid_size > 1:
            self.grid_norm = build_norm_layer(norm_cfg, in_channels)[1]
            self.ds_norm = folding_norm('ds_norm')
        self.qkv = nn.Conv2d(in_channels, in_channels * 3, 1)
        self.proj = nn.Conv2d(in_channels, in_channels, 1)
        self.drop = nn.Dropout2d(drop_rate)

        if grid_size > 1:
            self.pool = nn.AvgPool2d(ds_ratio, stride=ds_ratio, ceil_mode=True)
            self.q = nn.Conv2d(in_channels, in_channels, 1)
            self.kv = nn.Conv2d(in_channels, in_channels * 2, 1)
        #: Whether a dynamic-shape export is being traced (:meth:`set_dynamic_export`).
        self.dynamic_export = False
        self.deploy = deploy

    def set_dynamic_export(self, enabled: bool = True) -> None:
        """Declare that the trace being recorded gets dynamic height/width axes (ONNX export
        with ``dynamic_axes``), or no longer does.

        While set and tracing, the window attention always builds its key mask from the traced
        sizes: a Python ``if`` on the export size's padding would be frozen into the graph and
        make the export wrong at sizes that need padding. Eager mode and static exports (where
        the mask is left out when nothing is padded, so mobile accelerators do not see the
        masking ops) are unaffected. :func:`mmhybrid.deploy.export.export_onnx` sets it
        with ``dynamic=True`` and resets it afterwards.
        """
        self.dynamic_export = bool(enabled)

    #: A per-sample norm (HAT-Net's GroupNorm) stays; a BatchNorm folds.
    keeps_per_sample_norms = True
    _fold_into = {'norm': 'qkv', 'ds_norm': 'kv'}

    def _norm_slots(self) -> Dict[str, nn.Module]:
        return {norm: getattr(self, norm) for norm in self._fold_into if hasattr(self, norm)}

    def _fold(self) -> None:
        """Fold a BatchNorm ``norm`` into ``qkv`` and ``ds_norm`` into ``kv`` (each then
        ``Identity``), in place. ``grid_norm`` and non-BatchNorm norms are kept."""
        for norm in self.norms_to_fold():
            conv = getattr(self, self._fold_into[norm])
            fold_preceding_bn_into_pointwise_conv(getattr(self, norm), conv)
            setattr(self, norm, nn.Identity())

    def _window_attention(self, qkv: torch.Tensor) -> torch.Tensor:
        """Attention inside ``grid_size x grid_size`` windows.

        Args:
            qkv (Tensor): ``(B, 3 * C, H, W)`` in the ``[3][heads][head_dim]`` layout.

        Returns:
            Tensor: ``(B, C, H, W)``.
        """
        batch, _, height, width = qkv.shape
        g, heads, head_dim = self.grid_size, self.num_heads, self.head_dim
        qkv, (pad_h, pad_w) = pad_to_multiple(qkv, g)
        rows, cols = qkv.shape[-2] // g, qkv.shape[-1] // g
        # (B, 3, heads, d, rows, g, cols, g) -> (3, B, heads, rows*cols, g*g, d)
        qkv = qkv.reshape(batch, 3, heads, head_dim, rows, g, cols, g)
        qkv = qkv.permute(1, 0, 2, 4, 6, 5, 7, 3).reshape(3, batch, heads, rows * cols, g * g,
                                                          head_dim)
        q, k, v = qkv.unbind(0)

        key_mask = None
        # For a dynamic-shape export (set_dynamic_export) the mask is always built, from the
        # traced sizes: a Python `if` on the export size's padding would be frozen into the
        # graph. Where nothing is padded it is all True and changes nothing (static exports
        # leave it out, so mobile accelerators do not see the masking ops).
        if (self.dynamic_export and torch.jit.is_tracing()) or pad_h or pad_w:
            valid = (torch.arange(rows * g, device=qkv.device) < height)[:, None] \
                & (torch.arange(cols * g, device=qkv.device) < width)[None, :]
            # (windows, 1 query axis, g*g keys): padded keys never receive attention.
            key_mask = valid.reshape(rows, g, cols, g).permute(0, 2, 1, 3).reshape(
                rows * cols, 1, g * g)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask)

        out = out.reshape(batch, heads, rows, cols, g, g, head_dim)
        out = out.permute(0, 1, 6, 2, 4, 3, 5).reshape(batch, heads * head_dim, rows * g,
                                                       cols * g)
        return crop_to(out, height, width)

    def _split_heads(self, x: torch.Tensor, groups: int) -> torch.Tensor:
        """``(B, groups * heads * d, ...)`` -> ``(groups, B, heads, tokens, d)``."""
        x = x.reshape(x.shape[0], groups, self.num_heads, self.head_dim, -1)
        return x.permute(1, 0, 2, 4, 3)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """The attention branch without the identity: ``(B, C, H, W)`` -> ``(B, C, H, W)``."""
        batch, channels, height, width = x.shape
        qkv = self.qkv(self.norm(x))
        if self.grid_size > 1:
            grid_x = self.grid_norm(x + self._window_attention(qkv))
            q = self._split_heads(self.q(grid_x), 1)[0]
            k, v = self._split_heads(self.kv(self.ds_norm(self.pool(grid_x))), 2).unbind(0)
        else:
            q, k, v = self._split_heads(qkv, 3).unbind(0)
        out = F.scaled_dot_product_attention(q, k, v)  # (B, heads, H*W, d)
        out = out.transpose(-2, -1).reshape(batch, channels, height, width)
        if self.grid_size > 1:
            out = out + grid_x
        return self.drop(self.proj(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.in_channels:
            raise ValueError(f'HMHSA expects {self.in_channels} input channels, '
                             f'got a tensor of shape {tuple(x.shape)}.')
        out = self.attention(x)
        return x + out if self.add_identity else out

    def extra_repr(self) -> str:
        return (f'in_channels={self.in_channels}, num_heads={self.num_heads}, '
                f'head_dim={self.head_dim}, grid_size={self.grid_size}, '
                f'ds_ratio={self.ds_ratio}, add_identity={self.add_identity}')
