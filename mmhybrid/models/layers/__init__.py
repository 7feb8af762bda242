# Copyright (c) mmhybrid contributors. All rights reserved.
"""Reusable building blocks. The plug-ins (``PLUGINS``: H-MHSA, the LGL block, MixBlock A/B/C)
are registered in the ``mmhybrid`` scope (``type='mmhybrid.LGLBlock'``); their parts are plain
classes, imported from here."""
from .hmhsa import HMHSA
from .lgl import GlobalSparseAttn, LGLBlock, LocalAgg, SelfAttnBlock
from .mixblock import MixBlockA, MixBlockB, MixBlockC
from .trt_blocks import TRTBottleneck, TRTTransformerBlock

#: The blocks users plug into other networks: the only layers in the ``MODELS`` registry.
PLUGINS = ('HMHSA', 'LGLBlock', 'MixBlockA', 'MixBlockB', 'MixBlockC')

__all__ = ['HMHSA', 'GlobalSparseAttn', 'LGLBlock', 'LocalAgg', 'SelfAttnBlock',
           'TRTBottleneck', 'TRTTransformerBlock', 'MixBlockA', 'MixBlockB', 'MixBlockC']
