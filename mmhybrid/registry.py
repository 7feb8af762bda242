# Copyright (c) mmhybrid contributors. All rights reserved.
"""The mmhybrid model registry and its mirroring into the downstream libraries.

``MODELS`` is a direct child of MMEngine's root registry (scope ``mmhybrid``), so every
downstream library reaches it with a prefix (``type='mmhybrid.TopFormer'``) and, thanks to
``locations``, without importing anything by hand.

Plain names (``type='TopFormer'``) are looked up in the *current* default scope's registry
(``mmdet``, ``mmseg`` or ``mmpretrain``). :func:`mirror_into_downstream` therefore registers the
public classes into each of those registries whose library imports cleanly.
"""
import importlib
import warnings
from typing import Iterable, List

from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import Registry

MODELS = Registry(
    'model', parent=MMENGINE_MODELS, scope='mmhybrid', locations=['mmhybrid.models'])
#: Runner hooks, e.g. ``default_hooks.checkpoint.type='mmhybrid.AtomicCheckpointHook'``.
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, scope='mmhybrid', locations=['mmhybrid.engine'])
#: Data transforms, e.g. ``type='mmhybrid.ReportDataErrors'`` in any library's pipeline.
TRANSFORMS = Registry(
    'transform', parent=MMENGINE_TRANSFORMS, scope='mmhybrid', locations=['mmhybrid.datasets'])

#: The libraries whose ``registry.MODELS`` receive mmhybrid's public classes.
DOWNSTREAM_SCOPES = ('mmdet', 'mmseg', 'mmpretrain')


def mirror_into_downstream(classes: Iterable[type],
                           scopes: Iterable[str] = DOWNSTREAM_SCOPES) -> List[str]:
    """Register ``classes`` into the ``MODELS`` registry of each library in ``scopes``.

    Libraries that are not installed, or refuse to import (mmdet and mmseg raise
    ``AssertionError`` on an mmcv version they do not accept), are skipped with a warning
    for the latter, so one broken library never breaks ``import mmhybrid.models``.
    Registering is idempotent: a class already present under its name is left alone, while a
    *different* class under the same name raises ``KeyError`` (a real name clash).

    Returns:
        list[str]: the scopes the classes were mirrored into.
    """
    classes = list(classes)
    done = []
    for scope in scopes:
        try:
            registry = importlib.import_module(f'{scope}.registry').MODELS
        except ImportError:
            continue
        except AssertionError as exc:  # the library's own mmcv/mmengine version check
            warnings.warn(f'mmhybrid: not registering models into {scope}: {exc}')
            continue
        for cls in classes:
            existing = registry.module_dict.get(cls.__name__)
            if existing is cls:
                continue
            if existing is not None:
                raise KeyError(
                    f'{scope}.registry.MODELS already has a different {cls.__name__!r} '
                    f'({existing.__module__}); use type="mmhybrid.{cls.__name__}" instead.')
            registry.register_module(module=cls)
        done.append(scope)
    return done
