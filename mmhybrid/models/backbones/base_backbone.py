# Copyright (c) mmhybrid contributors. All rights reserved.
"""Behaviour shared by every mmhybrid backbone: frozen stages, ``norm_eval`` and strict
loading of pretrained weights."""
from typing import List, Mapping, Tuple

import torch.nn as nn
from mmengine.model import BaseModule
from mmengine.model.weight_init import PretrainedInit
from torch.nn.modules.batchnorm import _BatchNorm

from mmhybrid.utils.state_dict import (CheckpointMismatchError, checkpoint_state_dict,
                                       compare_state_dicts, diagnose)


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
    state = checkpoint_state_dict(
        _load_checkpoint(path, map_location=init_cfg.get('map_location', 'cpu')))
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
        mismatch = compare_state_dicts(module.state_dict(), state)
        tolerated = [k for k in mismatch.missing + mismatch.unexpected if k.startswith(optional)]
        mismatch = mismatch._replace(
            missing=[k for k in mismatch.missing if not k.startswith(optional)],
            unexpected=[k for k in mismatch.unexpected if not k.startswith(optional)])
        if not mismatch.is_exact:
            cause = diagnose(mismatch, module.state_dict(), state)
            raise CheckpointMismatchError(
                f'init_cfg: the weights in {path} (prefix={prefix!r}) do not fit '
                f'{type(module).__name__}{": " + cause if cause else ""}.\n'
                f'{mismatch.describe()}\nUse the checkpoint made for this architecture, or '
                'add strict=False to init_cfg to load only what matches (the rest stays '
                'randomly initialised).')
        state = {k: v for k, v in state.items() if not k.startswith(optional)
                 or k in module.state_dict()}
    if tolerated:
        print_log(f'{len(tolerated)} tensors under {list(optional)} differ between {path} and '
                  f'{type(module).__name__}, as expected (see pretrained_optional_prefixes)',
                  logger='current')
    print_log(f'load {prefix or "all weights"} from {path} (strict={strict})',
              logger='current')
    load_state_dict(module, state, strict=strict and not tolerated, logger='current')


class HybridBackbone(BaseModule):
    """Base class of the mmhybrid backbones.

    Subclasses set ``self.frozen_stages`` and ``self.norm_eval`` and implement
    :meth:`_frozen_modules`; a family-specific random initialisation goes into
    :meth:`_init_from_scratch`. ``init_cfg=dict(type='Pretrained', ...)`` is loaded after it,
    strictly (see :func:`load_pretrained`; ``strict=False`` in the dict opts out). Frozen modules stay in eval mode with ``requires_grad=False``, and
    with ``norm_eval=True`` every BatchNorm keeps its running statistics, also after
    ``model.train()`` (the runner calls it at the start of every epoch).
    """

    frozen_stages: int = -1
    norm_eval: bool = False
    #: Key prefixes that a classification checkpoint loaded with ``init_cfg=Pretrained`` may
    #: lack (modules only dense prediction uses) or hold in addition (modules only the
    #: classifier uses); every other key must match exactly.
    pretrained_optional_prefixes: Tuple[str, ...] = ()

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

    def train(self, mode: bool = True) -> 'HybridBackbone':
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self
