# Copyright (c) mmhybrid contributors. All rights reserved.
"""Reusable building blocks, registered in the ``mmhybrid`` scope (``type='mmhybrid.X'``)."""
from .hmhsa import HMHSA
from .lgl import GlobalSparseAttn, LGLBlock, LocalAgg, SelfAttnBlock

__all__ = ['HMHSA', 'GlobalSparseAttn', 'LGLBlock', 'LocalAgg', 'SelfAttnBlock']
