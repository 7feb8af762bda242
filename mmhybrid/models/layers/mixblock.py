# Copyright (c) mmhybrid contributors. All rights reserved.
"""MixBlock A/B/C of TRT-ViT, plug-ins for any conv network, and the two blocks they are made of.

Paper: "TRT-ViT: TensorRT-oriented Vision Transformer", Xia et al., 2022,
https://arxiv.org/abs/2205.09579.

A MixBlock mixes a Transformer block (global) and a ResNet bottleneck (local) in one block that
maps ``(B, C_in, H, W)`` to ``(B, C_out, H', W')`` like any conv block, so it replaces blocks of
a stock network (a ResNet stage, for instance: see the example of each MixBlock). The
MixBlocks are built from :class:`~mmhybrid.models.layers.trt_blocks.TRTTransformerBlock` and
:class:`~mmhybrid.models.layers.trt_blocks.TRTBottleneck`, which is why both live beside them in
:mod:`mmhybrid.models.layers.trt_blocks` and not in ``backbones/trt_vit.py``: ``layers/`` must
not import ``backbones/``, and the TRT-ViT backbone imports its BottleNeck (its early stages)
from there.

**No official code exists.** Everything here is re-implemented from the paper's description
(as summarised in the project's design brief) and has not been verified against any official
implementation. What the description fixes:

* BottleNeck: BatchNorm + ReLU, kernel size ``K`` (ResNet bottleneck).
* Transformer block: LayerNorm + GELU, head dim 32, MLP ratio 3, PVT-style spatial reduction
  ``S`` of keys and values.
* MixBlock A/B/C: open with a 1x1 conv projecting the input channels and close with a channel
  concat of a global (Transformer) and a local (BottleNeck) part. The shrink ratio ``R`` is the
  Transformer's output channels divided by the MixBlock's output channels.

  * A: Transformer and BottleNeck run in parallel on a channel split (``R*C`` and ``(1-R)*C``).
  * B: local-then-global, BottleNeck then Transformer on its output; ``R`` is 0.5 by design.
  * C: global-then-local, Transformer then BottleNeck on its output; any ``R`` in (0, 1).

Choices made by this project where the description is silent (documented in each class):
the projection is conv + BN without activation; a block with ``stride=2`` replaces the 1x1
projection by a 3x3 stride-2 conv (overlapping patch embedding); MixBlocks have no residual
around the whole block (each inner block has its own); BottleNecks inside MixBlocks use the
ResNet expansion of 4; there is no explicit positional encoding (the convolutions around the
Transformer provide position information, as in CPVT/PVTv2).

Deploy: every conv + BN pair is a :class:`ConvBNAct` (an mmcv ``ConvModule``) whose
``reparameterize()`` folds its ``bn`` into its ``conv``; the BottleNeck and the MixBlocks fold
their own pairs with ``reparameterize()``, and ``deploy=True`` builds the folded structure
(convs with a bias, no BN) directly. The state-dict keys of the unfolded blocks are those of
plain ``ConvModule`` s.
"""
from typing import Optional, Tuple

import torch
from mmengine.model import BaseModule

from mmhybrid.models.utils.reparam import ReparameterizableMixin
from mmhybrid.registry import MODELS
from .trt_blocks import (
    TRT_HEAD_DIM,
    ConvBNAct,
    TRTBottleneck,
    TRTTransformerBlock,
    _check_positive_int,
)


class _MixBlock(ReparameterizableMixin, BaseModule):
    """Shared constructor logic of MixBlock A/B/C (see the subclasses).

    Builds ``self.projection`` (conv + BN, no activation: 1x1, or 3x3 stride 2 when the block
    downsamples) to ``projected_channels``, plus ``self.transformer`` (``transformer_channels``)
    and ``self.bottleneck`` (``bottleneck_in`` -> ``bottleneck_out``), with the widths that the
    subclass's ``_branch_widths`` gives; the subclass's ``forward`` wires them.
    :meth:`reparameterize` folds the BNs of ``projection`` and ``bottleneck``.
    """

    #: A fixed shrink ratio R, for blocks whose wiring allows no other (MixBlock B).
    fixed_shrink_ratio: Optional[float] = None

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 shrink_ratio: float = 0.5,
                 sr_ratio: int = 1,
                 kernel_size: int = 3,
                 stride: int = 1,
                 drop_path_rate: float = 0.,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU'),
                 deploy: bool = False,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        name = type(self).__name__
        _check_positive_int('in_channels', in_channels)
        _check_positive_int('out_channels', out_channels)
        if stride not in (1, 2):
            raise ValueError(f'{name}: stride must be 1 or 2, got {stride!r}.')
        if self.fixed_shrink_ratio is not None and shrink_ratio != self.fixed_shrink_ratio:
            raise ValueError(
                f'{name} stacks the Transformer on the BottleNeck with equal widths, so its '
                f'shrink_ratio is fixed at {self.fixed_shrink_ratio} (got {shrink_ratio!r}); '
                f'use MixBlockC for other ratios.')
        if not 0. < shrink_ratio < 1.:
            raise ValueError(f'{name}: shrink_ratio R must lie in (0, 1), got {shrink_ratio!r}.')
        transformer_channels = out_channels * shrink_ratio
        if transformer_channels != int(transformer_channels) or \
                int(transformer_channels) % TRT_HEAD_DIM:
            raise ValueError(
                f'{name}: out_channels * shrink_ratio = {out_channels} * {shrink_ratio} = '
                f'{transformer_channels:g} must be a whole multiple of the head dim '
                f'{TRT_HEAD_DIM}; pick out_channels accordingly.')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.shrink_ratio = shrink_ratio
        self.stride = stride
        self.transformer_channels = int(transformer_channels)
        self.local_channels = out_channels - self.transformer_channels
        self.deploy = deploy

        projected_channels, bottleneck_in, bottleneck_out = self._branch_widths()
        kernel, padding = (1, 0) if stride == 1 else (3, 1)
        self.projection = ConvBNAct(
            in_channels,
            projected_channels,
            kernel,
            stride=stride,
            padding=padding,
            norm_cfg=norm_cfg,
            act_cfg=None,
            deploy=deploy)
        self.transformer = TRTTransformerBlock(
            self.transformer_channels, sr_ratio=sr_ratio, drop_path_rate=drop_path_rate)
        self.bottleneck = TRTBottleneck(
            bottleneck_in,
            bottleneck_out,
            kernel_size=kernel_size,
            drop_path_rate=drop_path_rate,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
            deploy=deploy)

    def _branch_widths(self) -> Tuple[int, int, int]:
        """``(projected_channels, bottleneck_in, bottleneck_out)`` of this wiring."""
        raise NotImplementedError

    def _fold(self) -> None:
        """Fold the BN of ``projection`` and the BNs of ``bottleneck`` into their convs
        (inference only). The Transformer (LayerNorm) has nothing to fold."""
        self.projection.reparameterize()
        self.bottleneck.reparameterize()


_MIX_ARGS_DOC = """
    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels ``C``.
        shrink_ratio (float): ``R`` = Transformer output channels / ``C``; ``R * C`` must be a
            multiple of 32 (the head dim). Defaults to 0.5.
        sr_ratio (int): Spatial reduction ``S`` of the Transformer's keys/values. Defaults to 1.
        kernel_size (int): Kernel ``K`` of the BottleNeck's middle conv. Defaults to 3.
        stride (int): 2 makes the projection a 3x3 stride-2 conv (downsampling block).
            Defaults to 1.
        drop_path_rate (float): Stochastic depth of the inner blocks. Defaults to 0.
        norm_cfg (dict): Norm of the projection and the BottleNeck. Defaults to BN.
        act_cfg (dict): Activation of the BottleNeck. Defaults to ReLU.
        deploy (bool): Build the folded inference structure (every conv + BN of the projection
            and the BottleNeck folded into a conv with a bias; see :meth:`reparameterize`).
            Defaults to False.
        init_cfg (dict, optional): Initialisation config. Defaults to None.

    Shapes:
        ``(B, in_channels, H, W)`` -> ``(B, out_channels, ceil(H / stride), ceil(W / stride))``.
"""


def _plug_in_example(name: str) -> str:
    """The docstring example of plugging MixBlock ``name`` into a stock ResNet stage."""
    return f"""
    Example:
        Plugged into a stock ResNet (MMPretrain's ResNet-18), a {name} replaces the last block
        of stage 4 (512 channels, stride 32); the network runs as before, and
        :func:`mmhybrid.models.utils.switch_to_deploy` folds the {name} (through its
        ``reparameterize()``) together with ResNet's own conv + BN pairs:

        >>> import torch
        >>> from mmpretrain.models import ResNet
        >>> from mmhybrid.models.layers import {name}
        >>> from mmhybrid.models.utils import switch_to_deploy
        >>> backbone = ResNet(depth=18, out_indices=(2, 3))
        >>> backbone.layer4[1] = {name}(512, 512, sr_ratio=1)
        >>> x = torch.rand(2, 3, 128, 96)
        >>> [tuple(out.shape) for out in backbone(x)]
        [(2, 256, 8, 6), (2, 512, 4, 3)]
        >>> _ = backbone.eval()
        >>> outs = backbone(x)
        >>> folded = switch_to_deploy(backbone)
        >>> all(torch.allclose(a, b, atol=1e-5) for a, b in zip(outs, folded(x)))
        True
    """


@MODELS.register_module()
class MixBlockA(_MixBlock):
    __doc__ = """MixBlock A of TRT-ViT: Transformer and BottleNeck in parallel on a channel split.

    ``y = proj(x)`` (``C`` channels) is split into ``R*C`` channels for the Transformer and
    ``(1-R)*C`` for the BottleNeck; the two outputs are concatenated. Kept for the paper's
    block-level ablation (TRT-ViT itself uses :class:`MixBlockC`).
    """ + _MIX_ARGS_DOC + _plug_in_example('MixBlockA')

    def _branch_widths(self) -> Tuple[int, int, int]:
        return self.out_channels, self.local_channels, self.local_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.projection(x)
        global_part, local_part = x.split([self.transformer_channels, self.local_channels], 1)
        return torch.cat([self.transformer(global_part), self.bottleneck(local_part)], dim=1)


@MODELS.register_module()
class MixBlockB(_MixBlock):
    __doc__ = """MixBlock B of TRT-ViT: local-then-global (BottleNeck, then Transformer on it).

    ``y = proj(x)`` (``C/2`` channels), ``l = BottleNeck(y)``, ``g = Transformer(l)``, output
    ``concat(l, g)``. The two parts have equal widths by construction, so ``R`` is fixed at 0.5
    (the paper's motivation for MixBlock C). Kept for the paper's block-level ablation.
    """ + _MIX_ARGS_DOC + _plug_in_example('MixBlockB')

    fixed_shrink_ratio = 0.5

    def _branch_widths(self) -> Tuple[int, int, int]:
        return self.local_channels, self.local_channels, self.local_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        local_out = self.bottleneck(self.projection(x))
        return torch.cat([local_out, self.transformer(local_out)], dim=1)


@MODELS.register_module()
class MixBlockC(_MixBlock):
    __doc__ = """MixBlock C of TRT-ViT: global-then-local (Transformer, then BottleNeck on it).

    ``y = proj(x)`` (``R*C`` channels), ``g = Transformer(y)``, ``l = BottleNeck(g)`` with
    ``(1-R)*C`` output channels (a projection shortcut when ``R != 0.5``), output
    ``concat(g, l)``. This is the block TRT-ViT uses; the paper sets ``R = 0.5``.
    """ + _MIX_ARGS_DOC + _plug_in_example('MixBlockC')

    def _branch_widths(self) -> Tuple[int, int, int]:
        return self.transformer_channels, self.transformer_channels, self.local_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        global_out = self.transformer(self.projection(x))
        return torch.cat([global_out, self.bottleneck(global_out)], dim=1)
