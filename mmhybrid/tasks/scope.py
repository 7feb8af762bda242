# Copyright (c) mmhybrid contributors. All rights reserved.
"""The task library a config runs in: its ``default_scope``, checked, imported and entered.

One config format serves MMPretrain, MMSegmentation and MMDetection; the config's
``default_scope`` names the library (:data:`TASK_SCOPES`). :func:`task_scope` is the one place
that checks it, imports that library with an error that says how to install it, and registers
mmhybrid's models into it; :func:`default_scope` enters the scope for a block.
"""
import contextlib
import importlib
from typing import Any, Iterator

__all__ = ['TASK_SCOPES', 'config_scope', 'task_scope', 'default_scope']

#: ``default_scope`` of each task library -> the mmhybrid extra that installs it.
TASK_SCOPES = {'mmpretrain': 'cls', 'mmseg': 'seg', 'mmdet': 'det'}


def config_scope(cfg: Any, user: str = 'mmhybrid tools') -> str:
    """The config's ``default_scope``, which must be one of :data:`TASK_SCOPES`.

    Raises:
        ValueError: naming the scope found, the valid ones and how to set it; ``user`` says
            who needs it (``'the analysis tools'``).
    """
    scope = cfg.get('default_scope', None)
    if scope not in TASK_SCOPES:
        raise ValueError(
            f'default_scope={scope!r} in the config: {user} handle configs of '
            f'{sorted(TASK_SCOPES)}. Inherit a runtime base such as '
            "'mmseg::_base_/default_runtime.py', or set default_scope explicitly.")
    return scope


def task_scope(cfg: Any, user: str = 'mmhybrid tools') -> str:
    """Return the config's ``default_scope`` (:func:`config_scope`) after importing that
    library, with a clear error, and registering mmhybrid's models into it."""
    scope = config_scope(cfg, user)
    try:
        importlib.import_module(scope)
    except ImportError as exc:
        raise ImportError(
            f'The config needs {scope} ({exc}). Install it with '
            f'`pip install "mmhybrid[{TASK_SCOPES[scope]}]"` or run `make install`.') from exc
    # Register mmhybrid models (and mirror them) before the library builds anything.
    importlib.import_module('mmhybrid.models')
    return scope


@contextlib.contextmanager
def default_scope(scope: str) -> Iterator[None]:
    """MMEngine's default scope set to ``scope`` inside the block (restored after it)."""
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope(scope):
        yield
