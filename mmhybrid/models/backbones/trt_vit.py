# Copyright (c) mmhybrid contributors. All rights reserved.
"""TRT-ViT backbone (Xia et al., 2022, https://arxiv.org/abs/2205.09579).

Re-implemented from the paper's description only: no official code or weights exist, and this
implementation is not verified against any. See :class:`TRTViT` for every choice made here.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model.weight_init import constant_init
from torch.nn.modules.batchnorm import _BatchNorm

from mmhybrid.models.layers.mixblock import MixBlockA, MixBlockB, MixBlockC
from mmhybrid.models.layers.trt_blocks import ConvBNAct, TRTBottleneck
from mmhybrid.registry import MODELS
from .base_backbone import BaseHybridBackbone

MIX_BLOCKS = {'MixBlockA': MixBlockA, 'MixBlockB': MixBlockB, 'MixBlockC': MixBlockC}


@MODELS.register_module()
class TRTViT(BaseHybridBackbone):
    """TRT-ViT: TensorRT-oriented Vision Transformer.

    A paper re-implementation of `TRT-ViT <https://arxiv.org/abs/2205.09579>`_. **No official code
    or checkpoints exist; this model is built from the paper's description and is not verified
    against the authors' implementation.** What the description fixes (the paper's four
    guidelines): 5 stages with a ResNet-like pyramid; convolutional BottleNecks (BN + ReLU) early,
    MixBlock C (Transformer with LN + GELU, head dim 32, MLP ratio 3, PVT spatial reduction, then
    a BottleNeck, concatenated) late; shallow-early / deep-late stage depths
    A 2-4-5-4, B 3-4-7-4, C 3-4-9-6, D 4-5-9-5; stage 5 all MixBlock C; C/D also end stage 4 with
    two MixBlock C; shrink ratio ``R = 0.5``.

    The paper's architecture table (per-stage channels, per-stage ``S``/``K``) is not available
    to this project, so the following are **this project's choices**:

    * Stage 1 (stem, stride 2): 3x3 conv stride 2 (3 -> 32) + BN + ReLU, 3x3 conv (32 -> 64) +
      BN + ReLU. No max-pool: each of stages 2-5 downsamples with its first block (ResNet v1.5
      bottleneck with the stride on the KxK conv and a strided 1x1 conv + BN shortcut; a
      downsampling MixBlock uses a 3x3 stride-2 projection instead of the 1x1).
    * Output widths of stages 2-5 (ResNet-50-like 256/512/1024 in stages 2-4; stage 5 sized
      so that TRT-ViT-C's backbone has about 66.9 M parameters, the one size figure known
      from the paper's downstream tables, Mask R-CNN 86.3 M / Semantic FPN 70.6 M):

      ====  =========  ======================  ===============  ========
      arch  depths     widths                  MixBlock C/stage params
      ====  =========  ======================  ===============  ========
      a     2-4-5-4    256-512-1024-1024       0-0-0-4          25.29 M
      b     3-4-7-4    256-512-1024-1280       0-0-0-4          36.19 M
      c     3-4-9-6    256-512-1024-1472       0-0-2-6          66.87 M
      d     4-5-9-5    256-512-1024-1792       0-0-2-5          78.15 M
      ====  =========  ======================  ===============  ========

    * ``S`` (spatial reduction) per stage 8-4-2-1 as in PVT (only stages 4 and 5 hold
      Transformers: ``S = 2`` at stride 16, ``S = 1`` at stride 32); ``K = 3`` everywhere;
      BottleNeck expansion 4 (also inside MixBlocks).
    * MixBlock C merge: ``concat(g, BottleNeck(g))`` with ``g = Transformer(proj(x))``; the
      1x1 projection is conv + BN without activation; no residual around the whole MixBlock.
    * No explicit positional encoding (the surrounding convolutions provide position, so any
      input size works); QKV with bias; no final norm after stage 5. Maps whose sides are not
      multiples of ``S`` are zero-padded before the key/value reduction (ceil, not PVT's floor).
    * Stochastic depth rises linearly over all blocks; a MixBlock's Transformer and BottleNeck
      share the block's rate.

    All of this is deploy-friendly: :meth:`switch_to_deploy` folds every conv + BN pair (each
    block's ``reparameterize()``, see :mod:`mmhybrid.models.layers.mixblock`), ``deploy=True``
    builds the folded model directly (its state dict is the folded one), and the model exports
    to ONNX (opset >= 14) with no custom op.

    The BottleNeck and the MixBlocks live in :mod:`mmhybrid.models.layers.trt_blocks` and
    :mod:`mmhybrid.models.layers.mixblock`: the MixBlocks are plug-ins for other networks and the
    BottleNeck is one of their parts.

    Args:
        arch (str | dict): ``'a'``, ``'b'``, ``'c'``, ``'d'`` or a dict with the keys
            ``depths``, ``channels``, ``num_mix_blocks``, ``sr_ratios`` and ``kernel_sizes``
            (four entries each, for stages 2-5), and optionally ``stem_channels`` (default 64)
            and ``shrink_ratio`` (default 0.5). Defaults to ``'a'``.
        mix_block (str): ``'MixBlockC'`` (TRT-ViT), or ``'MixBlockA'`` / ``'MixBlockB'`` to rerun
            the paper's block-level ablation. Defaults to ``'MixBlockC'``.
        in_channels (int): Input image channels. Defaults to 3.
        out_indices (Sequence[int] | int): Which of stages 2-5 (0-3, strides 4/8/16/32) to return;
            negative indices count from the end, no duplicates. Outputs come in stage order
            whatever the order given (``feature_info`` describes them). Defaults to ``(3, )``.
        frozen_stages (int): -1 freezes nothing, 0 the stem, ``i >= 1`` the stem and the first
            ``i`` of stages 2-5 (parameters frozen and kept in eval mode). Defaults to -1.
        norm_eval (bool): Keep all BatchNorm layers in eval mode while training (detection
            fine-tuning). Defaults to False.
        drop_path_rate (float): Maximum stochastic depth rate. Defaults to 0.
        norm_cfg (dict): Norm of every conv (BN in the paper; SyncBN for distributed training).
            The Transformers always use LayerNorm (paper). Defaults to ``dict(type='BN')``.
        act_cfg (dict): Activation of every conv (ReLU in the paper); the Transformers always use
            GELU. Defaults to ``dict(type='ReLU')``.
        zero_init_residual (bool): Zero the last BN of every BottleNeck at initialisation, so each
            residual branch starts as the identity. Defaults to True.
        with_cp (bool): Gradient checkpointing of every block (stem aside) while training: less
            memory, one more forward; outputs and gradients unchanged. Defaults to False.
        deploy (bool): Build the folded inference structure (every conv + BN a conv with a
            bias), into which a state dict saved after :meth:`switch_to_deploy` loads strictly.
            Defaults to False.
        init_cfg (dict | list[dict], optional): Initialisation config. Defaults to Kaiming for
            convs, truncated normal (std 0.02) for linears and ones for norms.

    Example:
        >>> import torch
        >>> from mmhybrid.models import TRTViT
        >>> model = TRTViT(arch='a', out_indices=(0, 1, 2, 3)).eval()
        >>> outs = model(torch.rand(1, 3, 224, 224))
        >>> for out in outs:
        ...     print(tuple(out.shape))
        (1, 256, 56, 56)
        (1, 512, 28, 28)
        (1, 1024, 14, 14)
        (1, 1024, 7, 7)
    """

    arch_settings = {
        'a': dict(depths=[2, 4, 5, 4], channels=[256, 512, 1024, 1024],
                  num_mix_blocks=[0, 0, 0, 4], sr_ratios=[8, 4, 2, 1],
                  kernel_sizes=[3, 3, 3, 3]),
        'b': dict(depths=[3, 4, 7, 4], channels=[256, 512, 1024, 1280],
                  num_mix_blocks=[0, 0, 0, 4], sr_ratios=[8, 4, 2, 1],
                  kernel_sizes=[3, 3, 3, 3]),
        'c': dict(depths=[3, 4, 9, 6], channels=[256, 512, 1024, 1472],
                  num_mix_blocks=[0, 0, 2, 6], sr_ratios=[8, 4, 2, 1],
                  kernel_sizes=[3, 3, 3, 3]),
        'd': dict(depths=[4, 5, 9, 5], channels=[256, 512, 1024, 1792],
                  num_mix_blocks=[0, 0, 2, 5], sr_ratios=[8, 4, 2, 1],
                  kernel_sizes=[3, 3, 3, 3]),
    }
    _per_stage_keys = ('depths', 'channels', 'num_mix_blocks', 'sr_ratios', 'kernel_sizes')
    #: Optional keys of an arch (preset or custom dict) and their values when not given.
    arch_defaults = dict(stem_channels=64, shrink_ratio=0.5)
    arch_keys = _per_stage_keys + tuple(arch_defaults)
    num_stages = 4

    def __init__(self,
                 arch: Union[str, Dict] = 'a',
                 mix_block: str = 'MixBlockC',
                 in_channels: int = 3,
                 out_indices: Union[Sequence[int], int] = (3, ),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 drop_path_rate: float = 0.,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 act_cfg: dict = dict(type='ReLU'),
                 zero_init_residual: bool = True,
                 with_cp: bool = False,
                 deploy: bool = False,
                 init_cfg: Optional[Union[dict, List[dict]]] = [
                     dict(type='Kaiming', layer='Conv2d'),
                     dict(type='TruncNormal', layer='Linear', std=.02, bias=0.),
                     dict(type='Constant', layer=['_BatchNorm', 'LayerNorm'], val=1., bias=0.)
                 ]):
        super().__init__(init_cfg=init_cfg)
        self.arch = self.parse_arch(arch)
        if mix_block not in MIX_BLOCKS:
            raise ValueError(f'mix_block must be one of {sorted(MIX_BLOCKS)}, got {mix_block!r}.')
        self.frozen_stages = self.check_frozen_stages(frozen_stages)
        self.out_indices = self.parse_out_indices(out_indices)
        self.norm_eval = norm_eval
        self.zero_init_residual = zero_init_residual
        self.with_cp = with_cp
        self.deploy = deploy
        self.mix_block = mix_block

        stem_channels = self.arch['stem_channels']
        self.stem = nn.Sequential(
            ConvBNAct(in_channels, stem_channels // 2, 3, stride=2, padding=1,
                      norm_cfg=norm_cfg, act_cfg=act_cfg, deploy=deploy),
            ConvBNAct(stem_channels // 2, stem_channels, 3, padding=1,
                      norm_cfg=norm_cfg, act_cfg=act_cfg, deploy=deploy))

        depths = self.arch['depths']
        block_rates = self.drop_path_rates(drop_path_rate, sum(depths))
        self.stages = nn.ModuleList()
        channels = stem_channels
        for stage_idx, depth in enumerate(depths):
            out_channels = self.arch['channels'][stage_idx]
            first_mix = depth - self.arch['num_mix_blocks'][stage_idx]
            blocks = []
            for block_idx in range(depth):
                stride = 2 if block_idx == 0 else 1
                rate = block_rates[sum(depths[:stage_idx]) + block_idx]
                kernel_size = self.arch['kernel_sizes'][stage_idx]
                if block_idx < first_mix:
                    block = TRTBottleneck(
                        channels, out_channels, kernel_size=kernel_size, stride=stride,
                        drop_path_rate=rate, norm_cfg=norm_cfg, act_cfg=act_cfg, deploy=deploy)
                else:
                    block = MIX_BLOCKS[mix_block](
                        channels, out_channels, shrink_ratio=self.arch['shrink_ratio'],
                        sr_ratio=self.arch['sr_ratios'][stage_idx], kernel_size=kernel_size,
                        stride=stride, drop_path_rate=rate, norm_cfg=norm_cfg, act_cfg=act_cfg,
                        deploy=deploy)
                blocks.append(block)
                channels = out_channels
            self.stages.append(nn.Sequential(*blocks))
        self._freeze_stages()

    @classmethod
    def _check_arch(cls, arch: dict) -> None:
        cls.check_per_stage(arch, cls._per_stage_keys, cls.num_stages)
        for stage, (depth, num_mix) in enumerate(zip(arch['depths'], arch['num_mix_blocks'])):
            if depth < 1 or not 0 <= num_mix <= depth:
                raise ValueError(f'Stage {stage + 2}: need depths >= 1 and 0 <= num_mix_blocks '
                                 f'<= depths, got depths={depth}, num_mix_blocks={num_mix}.')

    def _output_info(self) -> List[dict]:
        return [dict(num_chs=channels, reduction=2**(index + 2), module=f'stages.{index}')
                for index, channels in enumerate(self.arch['channels'])]

    def _init_from_scratch(self) -> None:
        super()._init_from_scratch()
        if self.zero_init_residual:
            for module in self.modules():
                if isinstance(module, TRTBottleneck) and \
                        isinstance(module.conv3.norm, _BatchNorm):
                    constant_init(module.conv3.norm, val=0., bias=0.)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """``(B, C, H, W)`` (any ``H, W``) -> maps of stages ``out_indices`` in stage order,
        each ``(B, channels[i], ceil(H / 2^(i+2)), ceil(W / 2^(i+2)))``."""
        x = self.stem(x)
        outs = []
        for index, stage in enumerate(self.stages):
            for block in stage:
                x = self.run_block(block, x)
            if index in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _frozen_modules(self) -> List[nn.Module]:
        if self.frozen_stages < 0:
            return []
        return [self.stem] + list(self.stages[:self.frozen_stages])
