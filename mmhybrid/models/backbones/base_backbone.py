# Copyright (c) mmhybrid contributors. All rights reserved.
"""The contract every mmhybrid backbone implements once: arch parsing, ``out_indices``,
``feature_info``, stochastic depth, frozen stages, ``norm_eval``, ``with_cp``, deploy folding
and strict loading of pretrained weights.

The base class is :class:`BaseHybridBackbone`. ``HybridBackbone``, its name up to 0.1.0 (a class
of mmpretrain's LeViT has that name too), still imports from this module with a
``DeprecationWarning`` for one release, then goes away.
"""
import copy
import warnings
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmengine.model.weight_init import PretrainedInit
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.checkpoint import checkpoint

from mmhybrid.models.utils.reparam import ReparameterizableMixin
from mmhybrid.utils.checkpoint import allow_mmengine_checkpoint_types
from mmhybrid.utils.state_dict import (
    CheckpointMismatchError,
    check_finite_weights,
    checkpoint_state_dict,
    compare_state_dicts,
    diagnose,
)


def _is_pretrained(init_cfg: Mapping) -> bool:
    return init_cfg.get('type') in ('Pretrained', PretrainedInit)


def load_pretrained(module: nn.Module, init_cfg: Mapping) -> None:
    """Load ``init_cfg=dict(type='Pretrained', checkpoint, prefix=None, strict=True)``.

    Like MMEngine's ``PretrainedInit``, but strict unless the config says ``strict=False``: a
    checkpoint of another architecture, a wrong ``prefix`` or a file of another model raises
    :class:`~mmhybrid.utils.state_dict.CheckpointMismatchError` naming the file and the keys.
    Keys under the module's ``pretrained_optional_prefixes`` may be missing or extra (e.g.
    TopFormer's SIM modules, which ImageNet pre-training does not have).
    """
    from mmengine.logging import print_log
    from mmengine.runner.checkpoint import _load_checkpoint, load_state_dict

    path, prefix = init_cfg['checkpoint'], init_cfg.get('prefix')
    strict = init_cfg.get('strict', True)
    allow_mmengine_checkpoint_types()  # MMEngine's loader uses torch.load's default (safe)
    state = checkpoint_state_dict(
        _load_checkpoint(path, map_location=init_cfg.get('map_location', 'cpu')))
    check_finite_weights(state, path)
    if prefix:
        prefix = prefix if prefix.endswith('.') else prefix + '.'
        roots = sorted({key.split('.', 1)[0] for key in state})[:6]
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if not state:
            raise CheckpointMismatchError(
                f'init_cfg: no key of {path} starts with prefix={prefix!r} (its top-level '
                f'names are {roots}). Fix init_cfg.prefix (None for a backbone-only file).')
    optional = tuple(getattr(module, 'pretrained_optional_prefixes', ()))
    tolerated = []
    if strict:
        model_state = module.state_dict()
        mismatch = compare_state_dicts(model_state, state)
        tolerated = [k for k in mismatch.missing + mismatch.unexpected if k.startswith(optional)]
        extra = {k for k in mismatch.unexpected if k.startswith(optional)}
        mismatch = mismatch._replace(
            missing=[k for k in mismatch.missing if not k.startswith(optional)],
            unexpected=[k for k in mismatch.unexpected if not k.startswith(optional)])
        if not mismatch.is_exact:
            cause = diagnose(mismatch, model_state, state)
            raise CheckpointMismatchError(
                f'init_cfg: the weights in {path} (prefix={prefix!r}) do not fit '
                f'{type(module).__name__}{": " + cause if cause else ""}.\n'
                f'{mismatch.describe()}\nUse the checkpoint made for this architecture, or '
                'add strict=False to init_cfg to load only what matches (the rest stays '
                'randomly initialised).')
        state = {k: v for k, v in state.items() if k not in extra}
    if tolerated:
        print_log(f'{len(tolerated)} tensors under {list(optional)} differ between {path} and '
                  f'{type(module).__name__}, as expected (see pretrained_optional_prefixes)',
                  logger='current')
    print_log(f'load {prefix or "all weights"} from {path} (strict={strict})',
              logger='current')
    load_state_dict(module, state, strict=strict and not tolerated, logger='current')


class BaseHybridBackbone(ReparameterizableMixin, BaseModule):
    """Base class of the mmhybrid backbones: the contract every family implements once.

    (Named ``HybridBackbone`` before; that name, also a class of mmpretrain's LeViT, still
    imports from this module with a ``DeprecationWarning`` for one release.)

    What a subclass provides:

    - ``arch_settings`` (preset name -> dict), optionally ``arch_aliases``, and ``arch_keys``
      (the keys a custom arch dict must have); :meth:`parse_arch` validates both forms and a
      subclass adds family rules in :meth:`_check_arch`;
    - ``num_stages`` (how many maps ``out_indices`` can select), :meth:`_frozen_modules` and
      :meth:`_output_info` (channels, stride and module name of every selectable map);
    - its blocks run through :meth:`run_block`, which applies gradient checkpointing
      (``with_cp``) uniformly;
    - blocks that fold for inference follow :mod:`mmhybrid.models.utils.reparam`
      (:class:`~mmhybrid.models.utils.ReparameterizableMixin`: a ``deploy`` flag, an idempotent
      ``reparameterize()``); with ``deploy=True`` the backbone builds the folded structure
      directly.

    What the base class gives in return: :meth:`parse_out_indices` (ints, negative allowed, no
    duplicates, not empty; outputs always in stage order), :meth:`drop_path_rates` (validated
    linear stochastic-depth schedule), :meth:`check_frozen_stages`, ``out_channels`` and a
    timm-style ``feature_info`` describing output ``i``, :meth:`switch_to_deploy`, freezing from
    construction on (:meth:`_freeze_stages`, to be called at the end of ``__init__``), and strict
    ``init_cfg=Pretrained`` loading after :meth:`_init_from_scratch` (see :func:`load_pretrained`;
    ``strict=False`` in the dict opts out). Frozen modules stay in eval mode with
    ``requires_grad=False``, and with ``norm_eval=True`` every BatchNorm keeps its running
    statistics, also after ``model.train()`` (the runner calls it at the start of every epoch).
    """

    frozen_stages: int = -1
    norm_eval: bool = False
    with_cp: bool = False
    deploy: bool = False
    num_stages: int = 0
    out_indices: Tuple[int, ...] = ()
    arch_settings: Dict[str, dict] = {}
    arch_aliases: Dict[str, str] = {}
    arch_keys: Tuple[str, ...] = ()
    #: Values of the optional ``arch_keys`` that a preset or a custom dict may leave out.
    arch_defaults: Dict[str, object] = {}
    #: Key prefixes that a classification checkpoint loaded with ``init_cfg=Pretrained`` may
    #: lack (modules only dense prediction uses) or hold in addition (modules only the
    #: classifier uses); every other key must match exactly.
    pretrained_optional_prefixes: Tuple[str, ...] = ()

    # ----------------------------------------------------------------- construction helpers
    @classmethod
    def parse_arch(cls, arch: Union[str, dict]) -> dict:
        """A preset name (case-insensitive, aliases allowed) or a custom dict -> a new dict,
        with the optional keys (``arch_defaults``) filled in.

        Raises:
            ValueError: unknown preset (naming the valid ones), missing or unknown keys.
            TypeError: neither a str nor a dict.
        """
        name = cls.__name__
        if isinstance(arch, str):
            key = cls.arch_aliases.get(arch.lower(), arch.lower())
            if key not in cls.arch_settings:
                aliases = f' (aliases {sorted(cls.arch_aliases)})' if cls.arch_aliases else ''
                raise ValueError(f'{name}: unknown arch {arch!r}; choose one of '
                                 f'{sorted(cls.arch_settings)}{aliases} or pass a dict with '
                                 f'the keys {list(cls.arch_keys)}.')
            return {**copy.deepcopy(cls.arch_defaults), **copy.deepcopy(cls.arch_settings[key])}
        if not isinstance(arch, Mapping):
            raise TypeError(f'{name}: arch must be a str or a dict, got {type(arch).__name__}.')
        required = [k for k in cls.arch_keys if k not in cls.arch_defaults]
        missing = [k for k in required if k not in arch]
        unknown = sorted(k for k in arch if k not in cls.arch_keys)
        if missing or unknown:
            optional = f' (optional: {sorted(cls.arch_defaults)})' if cls.arch_defaults else ''
            example = next(iter(cls.arch_settings.values()), {})
            raise ValueError(f'{name}: a custom arch dict needs the keys {required}{optional}; '
                             f'missing {missing}, unknown {unknown}. E.g. {example}.')
        arch = {**copy.deepcopy(cls.arch_defaults), **copy.deepcopy(dict(arch))}
        cls._check_arch(arch)
        return arch

    @classmethod
    def _check_arch(cls, arch: dict) -> None:
        """Family-specific checks of a custom arch dict (raise ``ValueError``)."""

    @classmethod
    def check_per_stage(cls, arch: dict, keys: Sequence[str], num_stages: int) -> None:
        """Every ``arch[key]`` for ``key`` in ``keys`` has one entry per stage."""
        for key in keys:
            value = arch[key]
            if not isinstance(value, (list, tuple)) or len(value) != num_stages:
                raise ValueError(f'{cls.__name__}: arch[{key!r}] needs {num_stages} entries '
                                 f'(one per stage), got {value!r}.')

    def parse_out_indices(self, out_indices: Union[int, Sequence[int]],
                          num_outputs: Optional[int] = None) -> Tuple[int, ...]:
        """Validate ``out_indices`` against ``num_outputs`` (default ``num_stages``).

        Ints only (negative ones count from the end), no duplicates, at least one. The result
        is sorted: outputs always come in stage order, whatever order the caller used.
        """
        name = type(self).__name__
        num_outputs = self.num_stages if num_outputs is None else num_outputs
        if isinstance(out_indices, int) and not isinstance(out_indices, bool):
            out_indices = (out_indices, )
        if isinstance(out_indices, range):
            out_indices = tuple(out_indices)
        if not isinstance(out_indices, (list, tuple)) or not out_indices or any(
                isinstance(i, bool) or not isinstance(i, int) for i in out_indices):
            raise TypeError(f'{name}: out_indices must be an int or a non-empty sequence of '
                            f'ints in [-{num_outputs}, {num_outputs - 1}], got {out_indices!r}.')
        normalised = []
        for index in out_indices:
            if not -num_outputs <= index < num_outputs:
                raise ValueError(f'{name}: out_indices entry {index} is out of range; valid are '
                                 f'0..{num_outputs - 1} (or negative from the end).')
            normalised.append(index % num_outputs)
        if len(set(normalised)) != len(normalised):
            raise ValueError(f'{name}: out_indices {tuple(out_indices)} names an output twice.')
        return tuple(sorted(normalised))

    @staticmethod
    def drop_path_rates(drop_path_rate: float, num_blocks: int) -> List[float]:
        """Stochastic depth rising linearly from 0 to ``drop_path_rate`` over ``num_blocks``.

        Raises:
            ValueError: ``drop_path_rate`` outside ``[0, 1)`` (1.0 would drop every residual
                branch, turning every training output into NaN or the identity).
        """
        if isinstance(drop_path_rate, bool) or not isinstance(drop_path_rate, (int, float)) \
                or not 0 <= drop_path_rate < 1:
            raise ValueError(f'drop_path_rate must be a number in [0, 1), got {drop_path_rate!r}.')
        return torch.linspace(0, drop_path_rate, num_blocks).tolist() if num_blocks else []

    def check_frozen_stages(self, frozen_stages: int, max_stages: Optional[int] = None) -> int:
        """``frozen_stages`` must be an int in ``[-1, max_stages]`` (default ``num_stages``)."""
        max_stages = self.num_stages if max_stages is None else max_stages
        if isinstance(frozen_stages, bool) or not isinstance(frozen_stages, int) \
                or not -1 <= frozen_stages <= max_stages:
            raise ValueError(f'{type(self).__name__}: frozen_stages must be an int in '
                             f'[-1, {max_stages}] (-1 freezes nothing), got {frozen_stages!r}.')
        return frozen_stages

    # ------------------------------------------------------------------------ outputs
    def _output_info(self) -> List[dict]:
        """``dict(num_chs, reduction, module)`` for every map ``out_indices`` can select."""
        raise NotImplementedError

    @property
    def feature_info(self) -> List[dict]:
        """timm-style description of output ``i``: channels (``num_chs``), stride
        (``reduction``) and the name of the module that produces it (``module``)."""
        candidates = self._output_info()
        return [dict(candidates[i]) for i in self.out_indices]

    @property
    def out_channels(self) -> List[int]:
        """Channels of output ``i`` (``feature_info[i]['num_chs']``)."""
        return [info['num_chs'] for info in self.feature_info]

    # ----------------------------------------------------------------- running blocks
    def run_block(self, block: nn.Module, *inputs: torch.Tensor) -> torch.Tensor:
        """``block(*inputs)``, with gradient checkpointing when ``with_cp`` and training.

        Non-reentrant checkpointing also saves memory when the input needs no gradient (behind
        frozen stages) while the block's parameters do.
        """
        if self.with_cp and self.training and torch.is_grad_enabled():
            return checkpoint(block, *inputs, use_reentrant=False)
        return block(*inputs)

    # ------------------------------------------------------------------------ deploy
    def _fold(self) -> None:
        """Fold every block (its ``reparameterize()``), innermost first."""
        for module in reversed(list(self.modules())):
            if module is not self and hasattr(module, 'reparameterize'):
                module.reparameterize()

    @torch.no_grad()
    def switch_to_deploy(self) -> None:
        """Put the backbone in eval mode and fold every block for inference (``reparameterize()``,
        innermost first), in place.

        Idempotent. The result equals ``type(self)(..., deploy=True)`` loaded with the folded
        state dict.

        Raises:
            UnfoldableNormError: a block has a norm it must fold and cannot; the error names
                the block and its place in the backbone, and nothing is folded.
        """
        self.eval()
        self.reparameterize()

    # ----------------------------------------------------------------- initialisation
    def _frozen_modules(self) -> List[nn.Module]:
        """The modules that ``frozen_stages`` freezes (empty when it is -1)."""
        raise NotImplementedError

    def _init_from_scratch(self) -> None:
        """Random initialisation (and any non-``Pretrained`` ``init_cfg``)."""
        super().init_weights()

    def init_weights(self) -> None:
        """:meth:`_init_from_scratch`, then the ``Pretrained`` entries of ``init_cfg``."""
        configs = self.init_cfg if isinstance(self.init_cfg, list) else [self.init_cfg]
        pretrained = [cfg for cfg in configs if cfg is not None and _is_pretrained(cfg)]
        others = [cfg for cfg in configs if cfg is not None and not _is_pretrained(cfg)]
        original, self.init_cfg = self.init_cfg, (others or None)
        try:
            self._init_from_scratch()
        finally:
            self.init_cfg = original
        for init_cfg in pretrained:
            load_pretrained(self, init_cfg)

    def _freeze_stages(self) -> None:
        for module in self._frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'BaseHybridBackbone':
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self


def __getattr__(name: str):
    # The deprecated name (a class of mmpretrain's LeViT has it too); remove in the next release.
    if name == 'HybridBackbone':
        warnings.warn(
            'mmhybrid: HybridBackbone was renamed BaseHybridBackbone (mmpretrain has a '
            'HybridBackbone too); the old name will be removed in the next release.',
            DeprecationWarning, stacklevel=2)
        return BaseHybridBackbone
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
