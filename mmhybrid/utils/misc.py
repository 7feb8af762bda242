# Copyright (c) mmhybrid contributors. All rights reserved.
import importlib
import warnings
from functools import lru_cache


@lru_cache(maxsize=None)
def is_library_usable(name: str) -> bool:
    """Whether the downstream library ``name`` (``mmdet``/``mmseg``/``mmpretrain``) imports.

    mmdet and mmseg raise ``AssertionError`` at import time when the installed mmcv is outside the
    range they accept; that is reported as a warning instead of breaking ``import mmhybrid``.
    """
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    except AssertionError as exc:
        warnings.warn(f'mmhybrid: {name} is installed but refuses to import: {exc}')
        return False
    return True
