# Copyright (c) mmhybrid contributors. All rights reserved.
"""All mmhybrid models. Importing this package registers them.

Backbones and layers depend only on torch, MMEngine and MMCV. Heads that subclass a
downstream library's base class live in ``decode_heads`` (MMSegmentation) and ``heads``
(MMPretrain) and are only defined when that library imports.
"""
from mmhybrid.registry import mirror_into_downstream
from . import backbones, decode_heads, heads, layers  # noqa: F401
from .backbones import *  # noqa: F401,F403
from .decode_heads import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403

#: Classes mirrored into mmdet / mmseg / mmpretrain so configs may say ``type='TopFormer'``.
#: Building blocks (``layers``) stay in the ``mmhybrid`` scope only, to avoid name clashes.
PUBLIC_MODELS = tuple(
    getattr(module, name)
    for module in (backbones, decode_heads, heads) for name in module.__all__)

MIRRORED_SCOPES = mirror_into_downstream(PUBLIC_MODELS)

__all__ = backbones.__all__ + decode_heads.__all__ + heads.__all__ + layers.__all__
