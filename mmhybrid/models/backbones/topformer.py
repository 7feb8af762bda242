# Copyright (c) mmhybrid contributors. All rights reserved.
"""TopFormer backbone (`TopFormer: Token Pyramid Transformer for Mobile Semantic Segmentation
<https://arxiv.org/abs/2204.05525>`_, CVPR 2022)."""
import copy
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model.weight_init import initialize
from torch.nn.modules.batchnorm import _BatchNorm

from mmhybrid.models.layers.topformer_layers import (TopFormerConv2dBN, TopFormerPyramidPoolAgg,
                                                     TopFormerSemanticsExtractor,
                                                     TopFormerSemanticsInjection,
                                                     TopFormerTokenPyramid)
from mmhybrid.registry import MODELS
from .base_backbone import HybridBackbone


@MODELS.register_module()
class TopFormer(HybridBackbone):
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

    Deliberate deviations from the authors' code: ``init_weights()`` works without ``init_cfg``
    (theirs raises ``AttributeError``); the zero-initialised BN scale of each attention output
    projection stays 0 for every norm type (their init resets it to 1 for plain ``BatchNorm2d`` but
    not for ``SyncBatchNorm``, which all their configs use); no ``width_mult`` (channels are used as
    given, as at their default width 1.0).

    Args:
        arch (str | dict): ``'tiny'``, ``'small'`` or ``'base'`` (aliases ``'t'``, ``'s'``,
            ``'b'``), or a dict with keys ``layer_cfgs`` (rows ``[kernel_size, expand_ratio,
            out_channels, stride]``), ``tap_indices`` (0-based rows forming the pyramid; the last
            one must be the last row), ``num_heads`` and ``injection_channels`` (int or one per
            injected scale); optional ``stem_channels`` (16), ``depth`` (4), ``key_dim`` (16),
            ``attn_ratio`` (2), ``mlp_ratio`` (2). Defaults to ``'tiny'``.
        mode (str): ``'dense'`` or ``'global'``, see above. Defaults to ``'dense'``.
        out_indices (Sequence[int] | int, optional): Which candidate outputs to return (negative
            indices allowed). Defaults to ``None``: ``(1, 2, 3)`` for ``'dense'``, ``(4,)`` for
            ``'global'``.
        in_channels (int): Image channels. Defaults to 3.
        token_pool_stride (int): Extra down-sampling of the coarsest tap before the transformer
            (the authors' ``c2t_stride``). Defaults to 2.
        drop_rate (float): Dropout in the FFNs. Defaults to 0.
        drop_path_rate (float): Stochastic depth, linear over the blocks. Defaults to 0.1.
        norm_cfg (dict): Norm layer config. Defaults to ``dict(type='BN')`` (the authors train
            with ``SyncBN``).
        act_cfg (dict): Activation of the semantics extractor. Defaults to ``dict(type='ReLU6')``.
        tpm_act_cfg (dict): Activation of the token pyramid (the authors never pass their
            ``act_layer`` to it, so it is ReLU). Defaults to ``dict(type='ReLU')``.
        frozen_stages (int): Stages to freeze (``requires_grad=False`` and eval mode): stage
            ``i < 4`` is the token-pyramid part ending at tap ``i`` (stage 0 includes the stem),
            stage 4 the semantics extractor. -1 freezes nothing. Defaults to -1.
        norm_eval (bool): Keep every BN of the backbone in eval mode while training.
            Defaults to False.
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
        >>> cls_model = TopFormer('tiny', mode='global').eval()
        >>> print(tuple(cls_model(torch.rand(1, 3, 224, 224))[0].shape))
        (1, 208, 4, 4)
    """

    #: ImageNet pre-training ('global' mode) has no SIM modules; dense models start them anew.
    pretrained_optional_prefixes = ('SIM.', )
    arch_settings: Dict[str, dict] = {
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
    arch_aliases = {'t': 'tiny', 's': 'small', 'b': 'base'}
    _required_arch_keys = ('layer_cfgs', 'tap_indices', 'num_heads', 'injection_channels')
    _default_arch_values = dict(stem_channels=16, depth=4, key_dim=16, attn_ratio=2., mlp_ratio=2.)
    modes = ('dense', 'global')

    def __init__(self,
                 arch: Union[str, dict] = 'tiny',
                 mode: str = 'dense',
                 out_indices: Optional[Union[int, Sequence[int]]] = None,
                 in_channels: int = 3,
                 token_pool_stride: int = 2,
                 drop_rate: float = 0.,
                 drop_path_rate: float = 0.1,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU6'),
                 tpm_act_cfg: dict = dict(type='ReLU'),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 init_cfg: Optional[Union[dict, List[dict]]] = None):
        super().__init__(init_cfg=init_cfg)
        self.arch = self._parse_arch(arch)
        if mode not in self.modes:
            raise ValueError(f'mode must be one of {self.modes}, got {mode!r}: use "dense" for '
                             'segmentation/detection and "global" for classification.')
        self.mode = mode

        layer_cfgs = self.arch['layer_cfgs']
        self.tap_indices = tuple(self.arch['tap_indices'])
        self.tap_channels = tuple(layer_cfgs[i][2] for i in self.tap_indices)
        self.num_scales = len(self.tap_indices)
        self.embed_dims = sum(self.tap_channels)
        injection = self.arch['injection_channels']
        if isinstance(injection, int):
            injection = [injection] * (self.num_scales - 1)
        if len(injection) != self.num_scales - 1:
            raise ValueError(
                f'arch["injection_channels"] needs one value per injected scale '
                f'({self.num_scales - 1}: taps 1..{self.num_scales - 1}), got {list(injection)}')
        self.injection_channels = tuple(injection)

        self.tpm = TopFormerTokenPyramid(
            layer_cfgs, self.tap_indices, self.arch['stem_channels'], in_channels,
            norm_cfg=norm_cfg, act_cfg=tpm_act_cfg)
        self.ppa = TopFormerPyramidPoolAgg(stride=token_pool_stride)
        self.trans = TopFormerSemanticsExtractor(
            self.embed_dims, self.arch['depth'], self.arch['key_dim'], self.arch['num_heads'],
            mlp_ratio=self.arch['mlp_ratio'], attn_ratio=self.arch['attn_ratio'],
            drop_rate=drop_rate, drop_path_rate=drop_path_rate, act_cfg=act_cfg,
            norm_cfg=norm_cfg)
        if mode == 'dense':
            # SIM.0 is a parameter-free placeholder so that SIM.i injects into tap i, as in the
            # authors' state dict.
            self.SIM = nn.ModuleList([nn.Identity()] + [
                TopFormerSemanticsInjection(self.tap_channels[i], self.tap_channels[i],
                                            self.injection_channels[i - 1], norm_cfg=norm_cfg)
                for i in range(1, self.num_scales)
            ])
            self.out_channels = (self.tap_channels[0], ) + self.injection_channels
        else:
            self.out_channels = self.tap_channels + (self.embed_dims, )
        num_candidates = len(self.out_channels)

        if out_indices is None:
            out_indices = tuple(range(1, num_candidates)) if mode == 'dense' else (
                num_candidates - 1, )
        if isinstance(out_indices, int):
            out_indices = (out_indices, )
        if not isinstance(out_indices, Sequence) or len(out_indices) == 0:
            raise TypeError(f'out_indices must be an int or a non-empty sequence of ints, got '
                            f'{out_indices!r}')
        normalised = []
        for index in out_indices:
            if not -num_candidates <= index < num_candidates:
                raise ValueError(
                    f'out_indices entry {index} is out of range for mode={mode!r}, which has '
                    f'{num_candidates} candidate outputs (valid: {-num_candidates}..'
                    f'{num_candidates - 1})')
            normalised.append(index % num_candidates)
        self.out_indices = tuple(normalised)

        if frozen_stages not in range(-1, self.num_scales + 1):
            raise ValueError(f'frozen_stages must be in [-1, {self.num_scales}] ({self.num_scales} '
                             f'= everything but the SIMs), got {frozen_stages}')
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self._freeze_stages()

    @classmethod
    def _parse_arch(cls, arch: Union[str, dict]) -> dict:
        if isinstance(arch, str):
            key = cls.arch_aliases.get(arch.lower(), arch.lower())
            if key not in cls.arch_settings:
                raise ValueError(f'Unknown TopFormer arch {arch!r}; choose one of '
                                 f'{sorted(cls.arch_settings)} (or {sorted(cls.arch_aliases)}), '
                                 'or pass a dict.')
            arch = cls.arch_settings[key]
        elif not isinstance(arch, dict):
            raise TypeError(f'arch must be a str or a dict, got {type(arch).__name__}')
        missing = [k for k in cls._required_arch_keys if k not in arch]
        if missing:
            raise ValueError(f'Custom TopFormer arch dict misses {missing}; it needs '
                             f'{list(cls._required_arch_keys)} and may set '
                             f'{sorted(cls._default_arch_values)}.')
        unknown = set(arch) - set(cls._required_arch_keys) - set(cls._default_arch_values)
        if unknown:
            raise ValueError(f'Unknown keys {sorted(unknown)} in the TopFormer arch dict; valid '
                             f'keys are {list(cls._required_arch_keys)} + '
                             f'{sorted(cls._default_arch_values)}.')
        arch = {**cls._default_arch_values, **copy.deepcopy(arch)}
        rows = arch['layer_cfgs']
        if not rows or any(len(row) != 4 for row in rows):
            raise ValueError('arch["layer_cfgs"] must be a non-empty list of [kernel_size, '
                             'expand_ratio, out_channels, stride] rows')
        taps = list(arch['tap_indices'])
        if len(taps) < 2 or sorted(set(taps)) != taps or taps[0] < 0:
            raise ValueError(f'arch["tap_indices"] must be >= 2 strictly increasing row indices, '
                             f'got {taps}')
        if taps[-1] != len(rows) - 1:
            raise ValueError(f'The last tap index must be the last layer_cfgs row '
                             f'({len(rows) - 1}), got {taps[-1]}: later rows would be computed '
                             'but never used.')
        return arch

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Return the maps selected by ``out_indices`` (see the class docstring)."""
        taps = self.tpm(x)
        semantics = self.trans(self.ppa(taps))
        if self.mode == 'global':
            candidates = taps + [semantics]
        else:
            chunks = semantics.split(self.tap_channels, dim=1)
            candidates = [taps[0]] + [
                self.SIM[i](taps[i], chunks[i]) for i in range(1, self.num_scales)
            ]
        return tuple(candidates[i] for i in self.out_indices)

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

