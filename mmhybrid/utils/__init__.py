# Copyright (c) mmhybrid contributors. All rights reserved.
from .misc import is_library_usable

__all__ = ['is_library_usable']
