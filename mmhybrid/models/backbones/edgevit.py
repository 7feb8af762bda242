# Copyright (c) mmhybrid contributors. All rights reserved.
"""EdgeViT backbone (Pan et al., ECCV 2022, https://arxiv.org/abs/2205.03436)."""
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmcv.cnn import build_norm_layer

from mmhybrid.models.layers.lgl import LGLBlock
from mmhybrid.models.utils import pad_to_multiple
from mmhybrid.registry import MODELS
from .base_backbone import BaseHybridBackbone


class EdgeViTPatchEmbed(nn.Module):
    """Non-overlapping strided conv (with bias) followed by a channel LayerNorm (eps 1e-5).

    Deviation from the authors' code, which asserts a fixed input size: the input is zero-padded
    at the bottom/right to a multiple of ``patch_size`` (no-op, and bit-identical, when it already
    is one), so the output is ``ceil(H / patch_size) x ceil(W / patch_size)``.

    Shape:
        ``(B, C_in, H, W) -> (B, C_out, ceil(H / p), ceil(W / p))``.
    """

    def __init__(self, in_channels: int, embed_dims: int, patch_size: int):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_channels, embed_dims, patch_size, stride=patch_size)
        self.norm = nn.LayerNorm(embed_dims)  # the authors keep PyTorch's default eps=1e-5 here

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, _ = pad_to_multiple(x, self.patch_size)
        x = self.proj(x)
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2).contiguous()


@MODELS.register_module()
class EdgeViT(BaseHybridBackbone):
    """EdgeViT: a four-stage hybrid backbone of local-global-local (LGL) bottlenecks.

    Paper: `EdgeViTs: Competing Light-weight CNNs on Mobile Devices with Vision Transformers
    <https://arxiv.org/abs/2205.03436>`_. Re-implemented from the authors' ``saic-fi/edgevit``
    (``src/edgevit.py``), which they released without weights.

    Stage ``i`` (0-based) is ``patch_embed{i+1}`` (4x4 conv for stage 0, 2x2 for the others,
    + LayerNorm) followed by ``blocks{i+1}``, a list of :class:`~mmhybrid.models.layers.LGLBlock`
    whose sparse attention uses cell size ``sr_ratios[i]`` (the last stage, ``sr == 1``, has
    plain attention and no ``LocalAgg``). Outputs have strides 4, 8, 16 and 32.

    Deviations from the authors' code (all exact no-ops at sizes they accept, i.e. multiples
    of 32 such as 224 or 512):

    * Any input size works. Every patch embedding zero-pads its input to a multiple of its
      stride, and the sparse attention samples partial border cells at their top-left token and
      crops the propagated map back. Stage ``i`` output is ``ceil(H / 2**(i+2))`` high.
    * The classifier's final BatchNorm (the authors' ``norm``) belongs to the backbone and is
      only built with ``final_norm=True`` (classification configs); it is applied to the last
      stage's output. Dense-prediction configs use the raw stage outputs.

    For inference, :meth:`switch_to_deploy` folds every :class:`~mmhybrid.models.layers.LGLBlock`
    (``reparameterize()``): each ``LocalAgg``'s two BatchNorms go into the 1x1 convs after them
    (``conv1``, ``mlp.fc1``, which already have biases) and the positional-conv identities into
    the ``pos_embed`` convs. The folded state dict lacks the ``LocalAgg.norm{1,2}`` entries and
    loads strictly into ``EdgeViT(arch, deploy=True)``, which builds that structure directly.
    The final norm (``final_norm=True``) is not folded (no conv follows it).

    Args:
        arch (str | dict): ``'xxs'``, ``'xs'``, ``'s'``, or a dict with the keys ``depths``,
            ``embed_dims``, ``num_heads``, ``mlp_ratios`` and ``sr_ratios`` (four entries each).
            Defaults to ``'xxs'``.
        in_channels (int): Input channels. Defaults to 3.
        out_indices (Sequence[int] | int): Stages to output (negative indices allowed, no
            duplicates); outputs always come in stage order. Defaults to ``(0, 1, 2, 3)``.
        frozen_stages (int): -1 freezes nothing, 0 freezes ``patch_embed1``, ``k >= 1`` freezes
            stages ``0 .. k-1`` (patch embedding + blocks); with ``k == 4`` the final norm too.
            Defaults to -1.
        final_norm (bool): Build and apply the final BatchNorm on the last stage. Defaults to
            False.
        norm_eval (bool): Keep BatchNorms in eval mode while training. Defaults to False.
        qkv_bias (bool): Bias of the qkv projections. Defaults to True.
        qk_scale (float, optional): Overrides the ``head_dim ** -0.5`` logit scale.
        drop_rate (float): Dropout after the stem and in MLPs/attention output. Defaults to 0.
        attn_drop_rate (float): Attention-weight dropout. Defaults to 0.
        drop_path_rate (float): Stochastic depth, increased linearly over all blocks; in
            ``[0, 1)``. Defaults to 0.
        norm_cfg (dict): BatchNorms of the ``LocalAgg`` blocks and the final norm.
            Defaults to ``dict(type='BN')``.
        act_cfg (dict): MLP activation. Defaults to ``dict(type='GELU')``.
        with_cp (bool): Gradient checkpointing of every LGL block while training (saves
            memory; outputs and gradients unchanged). Defaults to False.
        deploy (bool): Build the folded inference structure (see above). Defaults to False.
        init_cfg (dict | list[dict], optional): Defaults to the authors' scheme: truncated
            normal (std 0.02) for Linear layers, ones/zeros for LayerNorms, PyTorch defaults
            for convolutions and BatchNorms.

    Example:
        >>> import torch
        >>> from mmhybrid.models import EdgeViT
        >>> model = EdgeViT(arch='xxs').eval()
        >>> for out in model(torch.rand(1, 3, 224, 224)):
        ...     print(tuple(out.shape))
        (1, 36, 56, 56)
        (1, 72, 28, 28)
        (1, 144, 14, 14)
        (1, 288, 7, 7)
        >>> [tuple(o.shape[-2:]) for o in model(torch.rand(1, 3, 70, 90))]
        [(18, 23), (9, 12), (5, 6), (3, 3)]
        >>> [(i['num_chs'], i['reduction'], i['module']) for i in model.feature_info]
        [(36, 4, 'blocks1'), (72, 8, 'blocks2'), (144, 16, 'blocks3'), (288, 32, 'blocks4')]
    """

    #: The classifier's final BatchNorm (``final_norm=True``), unused by dense models.
    pretrained_optional_prefixes = ('norm.', )
    #: head_dim 36 for XXS, 48 for XS/S; heads = embed_dims // head_dim.
    arch_settings: Dict[str, dict] = {
        'xxs': dict(depths=[1, 1, 3, 2], embed_dims=[36, 72, 144, 288], num_heads=[1, 2, 4, 8],
                    mlp_ratios=[4, 4, 4, 4], sr_ratios=[4, 2, 2, 1]),
        'xs': dict(depths=[1, 1, 3, 1], embed_dims=[48, 96, 240, 384], num_heads=[1, 2, 5, 8],
                   mlp_ratios=[4, 4, 4, 4], sr_ratios=[4, 2, 2, 1]),
        's': dict(depths=[1, 2, 5, 3], embed_dims=[48, 96, 240, 384], num_heads=[1, 2, 5, 8],
                  mlp_ratios=[4, 4, 4, 4], sr_ratios=[4, 2, 2, 1]),
    }
    num_stages = 4
    arch_keys = ('depths', 'embed_dims', 'num_heads', 'mlp_ratios', 'sr_ratios')

    def __init__(self,
                 arch: Union[str, dict] = 'xxs',
                 in_channels: int = 3,
                 out_indices: Union[int, Sequence[int]] = (0, 1, 2, 3),
                 frozen_stages: int = -1,
                 final_norm: bool = False,
                 norm_eval: bool = False,
                 qkv_bias: bool = True,
                 qk_scale: Optional[float] = None,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='GELU'),
                 with_cp: bool = False,
                 deploy: bool = False,
                 init_cfg: Optional[Union[dict, list]] = [
                     dict(type='TruncNormal', layer='Linear', std=.02, bias=0.),
                     dict(type='Constant', layer='LayerNorm', val=1., bias=0.)
                 ]):
        super().__init__(init_cfg=init_cfg)
        self.arch = {k: list(v) for k, v in self.parse_arch(arch).items()}
        self.embed_dims = list(self.arch['embed_dims'])
        self.out_indices = self.parse_out_indices(out_indices)
        self.frozen_stages = self.check_frozen_stages(frozen_stages)
        self.norm_eval = norm_eval
        self.final_norm = final_norm
        self.with_cp = with_cp
        self.deploy = deploy

        depths = self.arch['depths']
        block_rates = self.drop_path_rates(drop_path_rate, sum(depths))
        channels = in_channels
        for i, depth in enumerate(depths):
            dims = self.embed_dims[i]
            self.add_module(f'patch_embed{i + 1}',
                            EdgeViTPatchEmbed(channels, dims, patch_size=4 if i == 0 else 2))
            rates, block_rates = block_rates[:depth], block_rates[depth:]
            self.add_module(f'blocks{i + 1}', nn.ModuleList([
                LGLBlock(dims, self.arch['num_heads'][i], sr_ratio=self.arch['sr_ratios'][i],
                         mlp_ratio=self.arch['mlp_ratios'][i], qkv_bias=qkv_bias,
                         qk_scale=qk_scale, drop_rate=drop_rate, attn_drop_rate=attn_drop_rate,
                         drop_path_rate=rate, norm_cfg=norm_cfg, act_cfg=act_cfg, deploy=deploy)
                for rate in rates]))
            channels = dims
        self.pos_drop = nn.Dropout(drop_rate)
        if final_norm:
            self.norm = build_norm_layer(norm_cfg, channels)[1]
        self._freeze_stages()

    @classmethod
    def _check_arch(cls, arch: dict) -> None:
        cls.check_per_stage(arch, cls.arch_keys, cls.num_stages)
        for i, (dims, heads) in enumerate(zip(arch['embed_dims'], arch['num_heads'])):
            if dims % heads:
                raise ValueError(f'EdgeViT: stage {i}: embed_dims {dims} is not divisible by '
                                 f'num_heads {heads}.')

    def stage_modules(self, index: int) -> list:
        """The modules of stage ``index`` (0-based): its patch embedding and its blocks."""
        return [getattr(self, f'patch_embed{index + 1}'), getattr(self, f'blocks{index + 1}')]

    def forward(self, x: torch.Tensor) -> tuple:
        """Args: ``x`` of shape ``(B, C_in, H, W)``, any H and W.

        Returns:
            tuple[Tensor]: for each index ``i`` in ``out_indices`` a map of shape
            ``(B, embed_dims[i], ceil(H / 2**(i+2)), ceil(W / 2**(i+2)))``.
        """
        outs = []
        for i in range(self.num_stages):
            patch_embed, blocks = self.stage_modules(i)
            x = patch_embed(x)
            if i == 0:
                x = self.pos_drop(x)
            for block in blocks:
                x = self.run_block(block, x)
            if i in self.out_indices:
                outs.append(self.norm(x) if self.final_norm and i == self.num_stages - 1 else x)
        return tuple(outs)

    def _output_info(self) -> List[dict]:
        info = [dict(num_chs=dims, reduction=2**(i + 2), module=f'blocks{i + 1}')
                for i, dims in enumerate(self.embed_dims)]
        if self.final_norm:
            info[-1]['module'] = 'norm'
        return info

    def _frozen_modules(self) -> List[nn.Module]:
        modules = []
        if self.frozen_stages >= 0:
            modules.append(self.patch_embed1)
        for i in range(self.frozen_stages):
            modules.extend(self.stage_modules(i))
        if self.frozen_stages == self.num_stages and self.final_norm:
            modules.append(self.norm)
        return modules
