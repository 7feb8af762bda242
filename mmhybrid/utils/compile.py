# Copyright (c) mmhybrid contributors. All rights reserved.
"""``torch.compile`` for the model's forward passes only, for training and inference.

MMEngine's ``Runner(compile=True)`` compiles the whole ``train_step``, optimizer update
included, and Dynamo fails inside ``torch.optim`` on current PyTorch
(``InternalTorchDynamoError`` at the first iteration, seen on torch 2.11 CUDA and 2.13 CPU).
:func:`compile_forward` compiles what is worth compiling and nothing else: the ``forward`` of the
backbone, the neck and every head of a task model, and the loss modules inside the heads (where a
loss does not trace, Dynamo falls back to eager for that part; a graph break is an error only
with ``fullgraph=True``).
The data pre-processor, the loss book-keeping over data samples, the optimizer and the hooks stay
eager.

Each part's ``forward`` is replaced *on the instance* by the compiled function bound to that
instance, so:

* parameter names and ``state_dict`` keys do not change (no ``_orig_mod.`` prefix: checkpoints
  of compiled and eager runs are interchangeable, and loading weights later, e.g. by
  ``load_from`` or ``--resume``, updates the compiled model in place);
* calls that bypass ``nn.Module.__call__`` (mmseg's ``BaseDecodeHead.loss`` calls
  ``self.forward(...)``) are compiled too;
* ``copy.deepcopy`` (EMA hooks, :func:`~mmhybrid.models.utils.switch_to_deploy` on a copy) gives
  a copy whose ``forward`` runs the compiled code on the *copy's* parameters.

Example:
    >>> from mmhybrid.utils.compile import compile_forward
    >>> compiled = compile_forward(segmentor, mode='default')
    >>> compiled
    ['backbone', 'decode_head', 'decode_head.loss_decode']
"""
import types
from typing import Any, Dict, Iterable, List, Optional, Union

import torch
import torch.nn as nn

__all__ = [
    'COMPILE_MODES', 'TASK_MODEL_PARTS', 'compile_forward', 'compiled_parts', 'is_compiled',
    'parse_compile_setting', 'use_compiled_forward'
]

#: ``torch.compile`` modes (``None`` is 'default').
COMPILE_MODES = ('default', 'reduce-overhead', 'max-autotune', 'max-autotune-no-cudagraphs')

#: Children of mmseg / mmdet / mmpretrain task models whose forward is compiled.
TASK_MODEL_PARTS = ('backbone', 'neck', 'decode_head', 'auxiliary_head', 'head', 'rpn_head',
                    'bbox_head', 'mask_head', 'roi_head')

_COMPILED_FLAG = '_mmhybrid_compiled'
_SUSPENDED_FORWARD = '_mmhybrid_suspended_forward'


def is_compiled(module: nn.Module) -> bool:
    """Whether :func:`compile_forward` replaced ``module.forward``."""
    return bool(module.__dict__.get(_COMPILED_FLAG, False))


def compiled_parts(model: nn.Module) -> List[str]:
    """Names (as in ``named_modules``) of the sub-modules whose forward is compiled."""
    return [name or '.' for name, module in model.named_modules() if is_compiled(module)]


def use_compiled_forward(model: nn.Module, enabled: bool) -> None:
    """Switch the parts :func:`compile_forward` compiled between their compiled forward
    (``enabled``) and their original eager one, in place; idempotent.

    Training compiles for fixed-size crops; evaluation pipelines resize images to varying
    sizes, which inductor fails to compile for some operators (``adaptive_avg_pool2d`` with
    symbolic sizes, torch 2.13), so :class:`mmhybrid.engine.CompileForwardHook` evaluates
    eagerly by default.
    """
    for _, module in model.named_modules():
        if not is_compiled(module):
            continue
        if enabled and _SUSPENDED_FORWARD in module.__dict__:
            module.forward = module.__dict__.pop(_SUSPENDED_FORWARD)
        elif not enabled and 'forward' in module.__dict__:
            module.__dict__[_SUSPENDED_FORWARD] = module.__dict__.pop('forward')


def _compile_module_forward(module: nn.Module, options: Dict[str, Any]) -> None:
    forward = type(module).forward
    module.forward = types.MethodType(torch.compile(forward, **options), module)
    module.__dict__[_COMPILED_FLAG] = True


def _loss_modules(head: nn.Module) -> Iterable[tuple]:
    for name, child in head.named_modules():
        if name and 'loss' in type(child).__name__.lower() and not is_compiled(child):
            yield name, child


def parse_compile_setting(setting: Union[None, bool, str, dict]) -> Optional[dict]:
    """Normalise a ``compile_forward`` config value / ``--compile`` argument.

    ``None``/``False`` -> ``None`` (no compilation); ``True`` -> ``{}`` (mode 'default'); a
    mode string -> ``{'mode': MODE}``; a dict is checked and returned (keys: those of
    ``torch.compile`` plus ``parts``).
    """
    if setting is None or setting is False:
        return None
    if setting is True:
        return {}
    if isinstance(setting, str):
        setting = dict(mode=setting)
    if not isinstance(setting, dict):
        raise TypeError(f'compile_forward must be a bool, a mode string or a dict of '
                        f'torch.compile arguments, not {type(setting).__name__}.')
    setting = dict(setting)
    allowed = {'mode', 'backend', 'dynamic', 'fullgraph', 'options', 'parts', 'compile_eval'}
    unknown = set(setting) - allowed
    if unknown:
        raise ValueError(f'compile_forward: unknown keys {sorted(unknown)}; valid keys are '
                         f'{sorted(allowed)}.')
    mode = setting.get('mode')
    if mode is not None and mode not in COMPILE_MODES:
        raise ValueError(f'compile_forward: mode={mode!r} is not a torch.compile mode; choose '
                         f'from {list(COMPILE_MODES)}.')
    if mode == 'default':
        setting.pop('mode')
    return setting


def compile_forward(model: nn.Module,
                    mode: Optional[str] = None,
                    backend: str = 'inductor',
                    dynamic: Optional[bool] = None,
                    fullgraph: bool = False,
                    options: Optional[dict] = None,
                    parts: Optional[Iterable[str]] = None,
                    losses: bool = True) -> List[str]:
    """Compile the forward of ``model``'s backbone, neck, heads and losses in place.

    Args:
        model (nn.Module): A task model (``EncoderDecoder``, ``ImageClassifier``, a detector),
            a bare backbone, or any module. Wrappers (DDP) must be unwrapped by the caller.
        mode (str, optional): ``torch.compile`` mode, one of :data:`COMPILE_MODES`.
        backend (str): ``torch.compile`` backend. Default: 'inductor'.
        dynamic (bool, optional): Passed to ``torch.compile`` (``None``: mark sizes dynamic
            after the first recompilation).
        fullgraph (bool): Make a graph break an error. Default: False.
        options (dict, optional): Inductor options (``torch.compile(options=...)``).
        parts (Iterable[str], optional): Names of the children to compile. Default:
            those of :data:`TASK_MODEL_PARTS` that ``model`` has, or ``model`` itself when it
            has none of them (a bare backbone). ``()``: ``model`` itself, as one graph (the
            fastest for inference: no boundaries between the parts).
        losses (bool): Also compile the loss modules inside the compiled heads.

    Returns:
        list[str]: The compiled sub-modules, as ``named_modules`` names (``'.'``: ``model``).
    """
    if mode == 'default':
        mode = None
    if mode is not None and mode not in COMPILE_MODES:
        raise ValueError(f'mode={mode!r} is not a torch.compile mode; choose from '
                         f'{list(COMPILE_MODES)}.')
    compile_options = dict(backend=backend, dynamic=dynamic, fullgraph=fullgraph)
    if mode is not None:
        compile_options['mode'] = mode
    if options:
        compile_options['options'] = dict(options)
    children = dict(model.named_children())
    if parts is None:
        names = [name for name in TASK_MODEL_PARTS if isinstance(children.get(name), nn.Module)]
    else:
        names = list(parts)
        missing = [name for name in names if not isinstance(children.get(name), nn.Module)]
        if missing:
            raise ValueError(f'compile_forward: {type(model).__name__} has no sub-module '
                             f'{missing}; its children are {sorted(children)}.')
    targets = [(name, children[name]) for name in names] if names else [('', model)]
    for name, part in targets:
        if is_compiled(part):
            continue
        _compile_module_forward(part, compile_options)
        if losses and name and name not in ('backbone', 'neck'):
            for _, loss in _loss_modules(part):
                _compile_module_forward(loss, compile_options)
    return compiled_parts(model)
