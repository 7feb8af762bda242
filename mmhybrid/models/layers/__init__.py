# Copyright (c) mmhybrid contributors. All rights reserved.
"""Reusable building blocks, registered in the ``mmhybrid`` scope (``type='mmhybrid.X'``)."""
from .hmhsa import HMHSA
from .lgl import GlobalSparseAttn, LGLBlock, LocalAgg, SelfAttnBlock
from .mixblock import MixBlockA, MixBlockB, MixBlockC, TRTBottleneck, TRTTransformerBlock

__all__ = ['HMHSA', 'GlobalSparseAttn', 'LGLBlock', 'LocalAgg', 'SelfAttnBlock',
           'TRTBottleneck', 'TRTTransformerBlock', 'MixBlockA', 'MixBlockB', 'MixBlockC']
