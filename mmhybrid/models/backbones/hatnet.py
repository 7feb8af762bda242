# Copyright (c) mmhybrid contributors. All rights reserved.
"""TransCNN and HAT-Net backbones (two code versions of one paper).

Paper: `Vision Transformers with Hierarchical Attention <https://arxiv.org/abs/2106.03180>`_
(arXiv v1/v2 "Transformer in Convolutional Neural Networks" = TransCNN; journal version =
HAT-Net). Re-implemented from the paper and the documented behaviour of the authors' two
releases (``TransCNN.py`` at tag v1.0, ``HAT_Net.py`` at tag v2.0); no code of theirs is used.
Module and parameter names equal the authors' so their checkpoints load after a prefix change
(``tools/model_converters/hatnet2mmhybrid.py``).
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmcv.cnn.bricks import DropPath

from mmhybrid.registry import MODELS
from ..layers.hmhsa import HMHSA
from ..utils.deploy import fold_preceding_bn_into_pointwise_conv, fuse_conv_bn
from ..utils.reparam import ReparameterizableMixin, deploy_norm
from .base_backbone import BaseHybridBackbone


class _HATFoldable(ReparameterizableMixin):
    """The fold policy of the TransCNN / HAT-Net blocks: a BatchNorm folds (TransCNN), a
    per-sample norm (HAT-Net's GroupNorm) stays in the deployed block."""
    keeps_per_sample_norms = True


class ConvStem(_HATFoldable, nn.Sequential):
    """The stem (``patch_embed``): Conv3x3 s2 (bias) -> norm -> act -> Conv3x3 s2 (bias).

    ``(B, in_channels, H, W)`` -> ``(B, out_channels, ceil(H / 4), ceil(W / 4))``; no norm or
    activation after the second conv. Indices 0-3 are the authors' checkpoint keys.

    Args:
        in_channels (int): Input image channels.
        stem_channels (int): Channels after the first conv.
        out_channels (int): Channels of stage 0.
        norm_cfg (dict): Norm config.
        act_cfg (dict): Activation config.
        deploy (bool): Build the folded structure (see :meth:`_fold`).
    """

    def __init__(self, in_channels: int, stem_channels: int, out_channels: int, norm_cfg: dict,
                 act_cfg: dict, deploy: bool = False):
        norm = build_norm_layer(norm_cfg, stem_channels)[1]
        super().__init__(
            nn.Conv2d(in_channels, stem_channels, 3, stride=2, padding=1),
            deploy_norm(self, '1', norm) if deploy else norm,
            build_activation_layer(act_cfg),
            nn.Conv2d(stem_channels, out_channels, 3, stride=2, padding=1),
        )
        self.deploy = deploy

    def _norm_slots(self) -> Dict[str, nn.Module]:
        return {'1': self[1]}

    def _fold(self) -> None:
        """Fold a BatchNorm ``[1]`` into the conv ``[0]`` before it (``[1]`` becomes
        ``Identity``); a GroupNorm (HAT-Net) normalises per sample and is kept."""
        if self.norms_to_fold():
            fuse_conv_bn(self[0], self[1])
            self[1] = nn.Identity()


class InvertedResidual(_HATFoldable, nn.Module):
    """Inverted residual MLP of a TransCNN/HAT-Net block (without the identity).

    ``norm_position='post'`` (TransCNN): 1x1 -> norm -> act, DW kxk -> norm -> act, 1x1 -> norm.
    ``norm_position='pre'`` (HAT-Net): norm -> 1x1 -> act, DW kxk -> act, 1x1 -> norm.
    Convs have no bias. ``Dropout2d(drop_rate)`` follows the DW act and the projection.
    Sub-module indices inside ``conv1``/``conv2``/``conv3`` match the authors' checkpoints.
    ``(B, channels, H, W)`` -> ``(B, channels, H, W)``.

    Args:
        channels (int): Input and output channels.
        hidden_channels (int): Channels of the expanded map.
        kernel_size (int): Depthwise kernel size (odd).
        norm_cfg (dict): Norm config.
        act_cfg (dict): Activation config.
        norm_position (str): ``'post'`` or ``'pre'``.
        drop_rate (float): Dropout2d probability.
        deploy (bool): Build the folded structure (see :meth:`_fold`): every folded norm an
            ``Identity``, the conv that absorbs it with a bias.
    """

    def __init__(self, channels: int, hidden_channels: int, kernel_size: int, norm_cfg: dict,
                 act_cfg: dict, norm_position: str, drop_rate: float = 0.,
                 deploy: bool = False):
        super().__init__()
        if norm_position not in ('post', 'pre'):
            raise ValueError(f"norm_position must be 'pre' or 'post', got {norm_position!r}")

        def norm(slot, num_channels):
            """(the slot's module, whether a conv absorbs it) for the structure to build."""
            built = build_norm_layer(norm_cfg, num_channels)[1]
            if not deploy:
                return built, False
            folded = deploy_norm(self, slot, built)
            return folded, folded is not built

        padding = (kernel_size - 1) // 2
        if norm_position == 'post':
            norm1, bias1 = norm('conv1.1', hidden_channels)
            norm2, bias2 = norm('conv2.1', hidden_channels)
            self.conv1 = nn.Sequential(nn.Conv2d(channels, hidden_channels, 1, bias=bias1), norm1,
                                       build_activation_layer(act_cfg))
            self.conv2 = nn.Sequential(
                nn.Conv2d(hidden_channels, hidden_channels, kernel_size, padding=padding,
                          groups=hidden_channels, bias=bias2), norm2,
                build_activation_layer(act_cfg))
        else:
            norm1, bias1 = norm('conv1.0', channels)
            self.conv1 = nn.Sequential(norm1, nn.Conv2d(channels, hidden_channels, 1, bias=bias1),
                                       build_activation_layer(act_cfg))
            self.conv2 = nn.Sequential(
                nn.Conv2d(hidden_channels, hidden_channels, kernel_size, padding=padding,
                          groups=hidden_channels, bias=False), build_activation_layer(act_cfg))
        self.norm_position = norm_position
        norm3, bias3 = norm('conv3.1', channels)
        self.conv3 = nn.Sequential(nn.Conv2d(hidden_channels, channels, 1, bias=bias3), norm3)
        self.drop = nn.Dropout2d(drop_rate)
        self.deploy = deploy

    def _norm_slots(self) -> Dict[str, nn.Module]:
        if self.norm_position == 'pre':
            return {'conv1.0': self.conv1[0], 'conv3.1': self.conv3[1]}
        return {'conv1.1': self.conv1[1], 'conv2.1': self.conv2[1], 'conv3.1': self.conv3[1]}

    def _fold(self) -> None:
        """Fold every BatchNorm into the conv it follows or (pre-norm) the 1x1 conv it feeds.

        Post-norm: ``conv1[1]`` into ``conv1[0]``, ``conv2[1]`` into the depthwise ``conv2[0]``,
        ``conv3[1]`` into ``conv3[0]``. Pre-norm: ``conv1[0]`` into the following 1x1 expansion
        ``conv1[1]`` (exact: ungrouped, unpadded) and ``conv3[1]`` into ``conv3[0]``. Folded norms
        become ``Identity``; GroupNorm (HAT-Net's default) normalises per sample and is kept.
        """
        for slot in self.norms_to_fold():
            seq_name, index = slot.split('.')
            seq, index = getattr(self, seq_name), int(index)
            if slot == 'conv1.0':  # pre-norm: the BN feeds the 1x1 expansion
                fold_preceding_bn_into_pointwise_conv(seq[0], seq[1])
            else:  # seq[0] is the conv, seq[1] its norm
                fuse_conv_bn(seq[0], seq[1])
            seq[index] = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop(self.conv2(self.conv1(x)))
        return self.drop(self.conv3(x))


class HATBlock(nn.Module):
    """``x + DropPath(H-MHSA(x))`` then ``x + DropPath(IRB(x))``; no norm outside the branches.

    ``(B, channels, H, W)`` -> ``(B, channels, H, W)``. Folding happens inside the branches
    (:meth:`HMHSA.reparameterize`, :meth:`InvertedResidual.reparameterize`).

    Args:
        channels (int): Channels of the stage.
        head_dim (int): Channels per attention head.
        grid_size (int): H-MHSA window side (1 = global MHSA).
        ds_ratio (int): H-MHSA pooling ratio.
        expansion (int): IRB expansion ratio.
        kernel_size (int): IRB depthwise kernel.
        norm_cfg (dict): Norm config.
        act_cfg (dict): Activation config of the IRB.
        irb_norm_position (str): ``'post'`` (TransCNN) or ``'pre'`` (HAT-Net).
        with_proj_norm (bool): Keep HAT-Net's unused ``attn.proj_norm``.
        drop_rate (float): Dropout2d probability inside attention and IRB.
        drop_path_rate (float): Stochastic depth of both residual branches.
        deploy (bool): Build the branches' folded structure.
    """

    def __init__(self, channels: int, head_dim: int, grid_size: int, ds_ratio: int,
                 expansion: int, kernel_size: int, norm_cfg: dict, act_cfg: dict,
                 irb_norm_position: str, with_proj_norm: bool = False, drop_rate: float = 0.,
                 drop_path_rate: float = 0., deploy: bool = False):
        super().__init__()
        self.attn = HMHSA(channels, head_dim=head_dim, grid_size=grid_size, ds_ratio=ds_ratio,
                          norm_cfg=norm_cfg, drop_rate=drop_rate, add_identity=False,
                          with_proj_norm=with_proj_norm, deploy=deploy, init_cfg=None)
        self.conv = InvertedResidual(channels, channels * expansion, kernel_size, norm_cfg,
                                     act_cfg, irb_norm_position, drop_rate, deploy=deploy)
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(x))
        return x + self.drop_path(self.conv(x))


class ConvDownsample(_HATFoldable, nn.Module):
    """HAT-Net downsampling: Conv3x3 stride 2 (bias) -> norm, no activation.

    ``(B, in_channels, H, W)`` -> ``(B, out_channels, ceil(H / 2), ceil(W / 2))``.
    """

    def __init__(self, in_channels: int, out_channels: int, norm_cfg: dict, act_cfg: dict,
                 deploy: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1)
        norm = build_norm_layer(norm_cfg, out_channels)[1]
        self.norm = deploy_norm(self, 'norm', norm) if deploy else norm
        self.deploy = deploy

    def _norm_slots(self) -> Dict[str, nn.Module]:
        return {'norm': self.norm}

    def _fold(self) -> None:
        """Fold a BatchNorm ``norm`` into ``conv`` (then ``Identity``); GroupNorm is kept."""
        if self.norms_to_fold():
            fuse_conv_bn(self.conv, self.norm)
            self.norm = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(x))


class TwoBranchDownsample(_HATFoldable, nn.Module):
    """TransCNN downsampling (TDB): ``act(norm1(conv3x3_s2(x)) + norm2(conv1x1(maxpool2(x))))``.

    ``(B, in_channels, H, W)`` -> ``(B, out_channels, ceil(H / 2), ceil(W / 2))``. The max pool
    uses ``ceil_mode=True`` so both branches agree on odd sizes (the authors' floor-mode pool
    only works on even maps; identical there).
    """

    def __init__(self, in_channels: int, out_channels: int, norm_cfg: dict, act_cfg: dict,
                 deploy: bool = False):
        super().__init__()

        def norm(slot):
            built = build_norm_layer(norm_cfg, out_channels)[1]
            return deploy_norm(self, slot, built) if deploy else built

        self.conv = nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1)
        self.norm1 = norm('norm1')
        self.pool = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.residual = nn.Conv2d(in_channels, out_channels, 1)
        self.norm2 = norm('norm2')
        self.act = build_activation_layer(act_cfg)
        self.deploy = deploy

    def _norm_slots(self) -> Dict[str, nn.Module]:
        return {'norm1': self.norm1, 'norm2': self.norm2}

    def _fold(self) -> None:
        """Fold BatchNorm ``norm1`` into ``conv`` and ``norm2`` into ``residual`` (both then
        ``Identity``); other norms are kept."""
        convs = {'norm1': 'conv', 'norm2': 'residual'}
        for norm in self.norms_to_fold():
            fuse_conv_bn(getattr(self, convs[norm]), getattr(self, norm))
            setattr(self, norm, nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm1(self.conv(x)) + self.norm2(self.residual(self.pool(x))))


class _HierarchicalAttentionNet(BaseHybridBackbone):
    """Code shared by :class:`TransCNN` and :class:`HATNet`; see their docstrings.

    Subclasses set ``arch_settings``, ``default_norm_cfg``, ``irb_norm_position``,
    ``downsample_cls`` and ``with_proj_norm``.
    """
    arch_settings: Dict[str, dict] = {}
    arch_keys = ('embed_dims', 'head_dim', 'expansions', 'grid_sizes', 'ds_ratios', 'depths',
                 'kernel_sizes')
    default_norm_cfg: dict = {}
    irb_norm_position: str = ''
    downsample_cls: type = nn.Module
    with_proj_norm: bool = False
    num_stages = 4
    stem_channels = 16

    def __init__(self,
                 arch: Union[str, dict] = 'tiny',
                 in_channels: int = 3,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 norm_cfg: Optional[dict] = None,
                 act_cfg: dict = dict(type='SiLU', inplace=True),
                 drop_rate: float = 0.,
                 drop_path_rate: float = 0.1,
                 with_cp: bool = False,
                 deploy: bool = False,
                 init_cfg: Optional[Union[dict, List[dict]]] = [
                     dict(type='TruncNormal', layer=['Conv2d', 'Linear'], std=.02, bias=0.),
                     dict(type='Constant', layer=['_BatchNorm', 'GroupNorm', 'LayerNorm'],
                          val=1., bias=0.)
                 ]):
        super().__init__(init_cfg=init_cfg)
        self.arch = self.parse_arch(arch)
        self.embed_dims = list(self.arch['embed_dims'])
        self.out_indices = self.parse_out_indices(out_indices)
        self.frozen_stages = self.check_frozen_stages(frozen_stages)
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        self.deploy = deploy
        norm_cfg = dict(self.default_norm_cfg) if norm_cfg is None else norm_cfg

        dims = self.embed_dims
        self.patch_embed = ConvStem(in_channels, self.stem_channels, dims[0], norm_cfg, act_cfg,
                                    deploy=deploy)

        depths = self.arch['depths']
        block_drop_paths = self.drop_path_rates(drop_path_rate, sum(depths))
        self.blocks = nn.ModuleList()
        for stage, depth in enumerate(depths):
            first = sum(depths[:stage])
            self.blocks.append(nn.ModuleList([
                HATBlock(
                    dims[stage],
                    head_dim=self.arch['head_dim'],
                    grid_size=self.arch['grid_sizes'][stage],
                    ds_ratio=self.arch['ds_ratios'][stage],
                    expansion=self.arch['expansions'][stage],
                    kernel_size=self.arch['kernel_sizes'][stage],
                    norm_cfg=norm_cfg,
                    act_cfg=act_cfg,
                    irb_norm_position=self.irb_norm_position,
                    with_proj_norm=self.with_proj_norm,
                    drop_rate=drop_rate,
                    drop_path_rate=block_drop_paths[first + i],
                    deploy=deploy) for i in range(depth)
            ]))
        # The authors' names: ds2 feeds stage 1 (0-based), ds3 stage 2, ds4 stage 3.
        for stage in range(1, self.num_stages):
            self.add_module(f'ds{stage + 1}', self.downsample_cls(
                dims[stage - 1], dims[stage], norm_cfg, act_cfg, deploy=deploy))
        self._freeze_stages()

    @classmethod
    def _check_arch(cls, arch: dict) -> None:
        name = cls.__name__
        cls.check_per_stage(arch, [k for k in cls.arch_keys if k != 'head_dim'], cls.num_stages)
        head_dim = arch['head_dim']
        if isinstance(head_dim, bool) or not isinstance(head_dim, int) or head_dim <= 0:
            raise ValueError(f"{name}: arch['head_dim'] must be a positive int, got "
                             f'{head_dim!r}.')
        for stage, dim in enumerate(arch['embed_dims']):
            if dim % head_dim:
                raise ValueError(f'{name}: embed_dims[{stage}]={dim} is not divisible by '
                                 f'head_dim={head_dim}.')
        for stage, kernel in enumerate(arch['kernel_sizes']):
            if kernel % 2 == 0:
                raise ValueError(f'{name}: kernel_sizes[{stage}]={kernel} must be odd.')

    def _stage_modules(self, stage: int) -> List[nn.Module]:
        entry = self.patch_embed if stage == 0 else getattr(self, f'ds{stage + 1}')
        return [entry, self.blocks[stage]]

    def _frozen_modules(self) -> List[nn.Module]:
        if self.frozen_stages < 0:
            return []
        modules = [self.patch_embed]
        for stage in range(self.frozen_stages):
            modules += self._stage_modules(stage)
        return modules

    def _output_info(self) -> List[dict]:
        info = []
        for stage, depth in enumerate(self.arch['depths']):
            entry = 'patch_embed' if stage == 0 else f'ds{stage + 1}'
            info.append(dict(num_chs=self.embed_dims[stage], reduction=4 * 2**stage,
                             module=f'blocks.{stage}' if depth else entry))
        return info

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """``(B, in_channels, H, W)`` -> one ``(B, embed_dims[i], ceil(H / s), ceil(W / s))``
        map per entry ``i`` of ``out_indices`` (``s = 4 * 2**i``), in stage order."""
        outs = []
        for stage in range(self.num_stages):
            entry, blocks = self._stage_modules(stage)
            x = entry(x)
            for block in blocks:
                x = self.run_block(block, x)
            if stage in self.out_indices:
                outs.append(x)
        return tuple(outs)


_DOC_COMMON = """
    Both versions share the stem (Conv3x3 s2 3->16, norm, SiLU, Conv3x3 s2 16->C1 with no norm
    or activation after it), the block (``x + DP(H-MHSA(x))``, ``x + DP(IRB(x))``, see
    :class:`~mmhybrid.models.layers.HMHSA`) and the absence of a final norm. Outputs are the maps
    after each stage (strides 4/8/16/32, ``ceil(H / stride)``), channels ``embed_dims``.

    Deviations from the authors' code (all identical to it on the sizes it accepts):

    - any input size works (the authors' code needs multiples of {multiple}): H-MHSA pads each
      map to its window grid with masked keys and crops back, pools with ``ceil_mode``;
    - no classifier (use mmpretrain's ``GlobalAveragePooling`` + ``LinearClsHead``; the authors'
      ``Dropout(0.2)`` before the linear layer is a training-only difference);
    - ``drop_path_rate`` defaults to 0.1 (the PVT training default the authors follow).

    Deploy (:meth:`switch_to_deploy` or ``deploy=True``) folds every BatchNorm that is exact to
    fold: after a conv (stem, IRB, downsamplers) or before a 1x1 conv (the pre-norm IRB
    expansion, H-MHSA's ``norm`` into ``qkv`` and ``ds_norm`` into ``kv``). Not folded: H-MHSA's
    ``grid_norm`` (it normalises a residual sum that the output reuses), and every GroupNorm
    (HAT-Net's default; per-sample statistics), so HAT-Net folds only with a BN ``norm_cfg``.

    Args:
        arch (str | dict): ``'tiny'``, ``'small'``, ``'medium'``, ``'large'`` or a dict with the
            keys ``embed_dims``, ``head_dim``, ``expansions``, ``grid_sizes``, ``ds_ratios``,
            ``depths``, ``kernel_sizes`` (one entry per stage except the int ``head_dim``).
            Defaults to ``'tiny'``.
        in_channels (int): Input image channels. Defaults to 3.
        out_indices (Sequence[int] | int): Stages to output: ints (negative count from the
            end), no duplicates, at least one; outputs come in stage order whatever the order
            given. Defaults to ``(0, 1, 2, 3)``.
        frozen_stages (int): -1 freezes nothing, 0 the stem (``patch_embed``), k the stem and
            stages 0..k-1 with their downsamplers (eval mode, no gradient, from construction
            on). Defaults to -1.
        norm_eval (bool): Keep BatchNorm layers in eval mode while training (no effect on
            GroupNorm). Defaults to False.
        norm_cfg (dict, optional): Norm config; ``None`` means {norm}.
        act_cfg (dict): Activation. Defaults to ``dict(type='SiLU', inplace=True)``.
        drop_rate (float): ``Dropout2d`` probability in attention and IRB. Defaults to 0.
        drop_path_rate (float): Stochastic depth in ``[0, 1)``, linearly increasing over all
            blocks. Defaults to 0.1.
        with_cp (bool): Gradient checkpointing per block (saves memory, costs a recompute).
            Defaults to False.
        deploy (bool): Build the structure :meth:`switch_to_deploy` produces, so a folded
            state dict loads strictly. Defaults to False.
        init_cfg (dict | list[dict], optional): Defaults to the authors' init: truncated normal
            (std 0.02, bias 0) for every conv and linear layer, 1/0 for norms.
"""


@MODELS.register_module()
class TransCNN(_HierarchicalAttentionNet):
    __doc__ = """TransCNN backbone, the first code version of `Vision Transformers with
    Hierarchical Attention <https://arxiv.org/abs/2106.03180>`_ (released as ``TransCNN.py``,
    ImageNet at 256x256).

    TransCNN-specific: BatchNorm everywhere, post-norm inverted residuals
    (conv -> BN -> SiLU), the two-branch downsampling block (TDB, see
    :class:`TwoBranchDownsample`), depthwise kernels 5/3/5/3.

    Classifier parameters (backbone + 1000-way linear): tiny 13.32 M, small 26.54 M,
    medium 48.32 M, large 80.03 M.
    """ + _DOC_COMMON.format(multiple=128, norm="``dict(type='BN')``") + """
    Example:
        >>> import torch
        >>> from mmhybrid.models import TransCNN
        >>> model = TransCNN('tiny').eval()
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 100, 150))]
        [(1, 64, 25, 38), (1, 128, 13, 19), (1, 256, 7, 10), (1, 512, 4, 5)]
    """
    arch_settings = {
        'tiny': dict(embed_dims=[64, 128, 256, 512], head_dim=64, expansions=[4, 4, 4, 4],
                     grid_sizes=[8, 8, 8, 1], ds_ratios=[8, 4, 2, 1], depths=[2, 2, 4, 2],
                     kernel_sizes=[5, 3, 5, 3]),
        'small': dict(embed_dims=[64, 128, 256, 512], head_dim=64, expansions=[4, 4, 6, 6],
                      grid_sizes=[8, 8, 8, 1], ds_ratios=[8, 4, 2, 1], depths=[3, 4, 8, 3],
                      kernel_sizes=[5, 3, 5, 3]),
        'medium': dict(embed_dims=[64, 128, 320, 640], head_dim=64, expansions=[4, 4, 6, 6],
                       grid_sizes=[8, 8, 8, 1], ds_ratios=[8, 4, 2, 1], depths=[3, 4, 12, 3],
                       kernel_sizes=[5, 3, 5, 3]),
        'large': dict(embed_dims=[64, 128, 384, 768], head_dim=64, expansions=[4, 4, 6, 6],
                      grid_sizes=[8, 8, 8, 1], ds_ratios=[8, 4, 2, 1], depths=[3, 4, 16, 3],
                      kernel_sizes=[5, 3, 5, 3]),
    }
    default_norm_cfg = dict(type='BN')
    irb_norm_position = 'post'
    downsample_cls = TwoBranchDownsample
    with_proj_norm = False


@MODELS.register_module()
class HATNet(_HierarchicalAttentionNet):
    __doc__ = """HAT-Net backbone, the journal code version of `Vision Transformers with
    Hierarchical Attention <https://arxiv.org/abs/2106.03180>`_ (released as ``HAT_Net.py``,
    ImageNet at 224x224).

    HAT-Net-specific: ``GroupNorm(1, eps=1e-6)`` everywhere, pre-norm inverted residuals
    (GN -> 1x1 -> SiLU -> DW -> SiLU -> 1x1 -> GN), a single Conv3x3 s2 + GN downsampler, and the
    attention's unused ``proj_norm`` kept so the released checkpoints load strictly (it gets no
    gradient: train with ``find_unused_parameters=True`` under DDP).

    Classifier parameters (backbone + 1000-way linear): tiny 12.66 M, small 25.75 M,
    medium 42.94 M, large 63.13 M.
    """ + _DOC_COMMON.format(
        multiple=224, norm="``dict(type='GN', num_groups=1, eps=1e-6)``") + """
    Example:
        >>> import torch
        >>> from mmhybrid.models import HATNet
        >>> model = HATNet('tiny').eval()
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 100, 150))]
        [(1, 48, 25, 38), (1, 96, 13, 19), (1, 240, 7, 10), (1, 384, 4, 5)]
    """
    arch_settings = {
        'tiny': dict(embed_dims=[48, 96, 240, 384], head_dim=48, expansions=[8, 8, 4, 4],
                     grid_sizes=[8, 7, 7, 1], ds_ratios=[8, 4, 2, 1], depths=[2, 2, 6, 3],
                     kernel_sizes=[3, 3, 3, 3]),
        'small': dict(embed_dims=[64, 128, 320, 512], head_dim=64, expansions=[8, 8, 4, 4],
                      grid_sizes=[8, 7, 7, 1], ds_ratios=[8, 4, 2, 1], depths=[2, 3, 8, 3],
                      kernel_sizes=[3, 3, 3, 3]),
        'medium': dict(embed_dims=[64, 128, 320, 512], head_dim=64, expansions=[8, 8, 4, 4],
                       grid_sizes=[8, 7, 7, 1], ds_ratios=[8, 4, 2, 1], depths=[3, 6, 18, 3],
                       kernel_sizes=[5, 3, 5, 3]),
        'large': dict(embed_dims=[64, 128, 320, 640], head_dim=64, expansions=[8, 8, 4, 4],
                      grid_sizes=[8, 7, 7, 1], ds_ratios=[8, 4, 2, 1], depths=[3, 8, 27, 3],
                      kernel_sizes=[3, 3, 3, 3]),
    }
    default_norm_cfg = dict(type='GN', num_groups=1, eps=1e-6)
    irb_norm_position = 'pre'
    downsample_cls = ConvDownsample
    with_proj_norm = True
