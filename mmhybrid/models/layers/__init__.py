# Copyright (c) mmhybrid contributors. All rights reserved.
"""Reusable building blocks, registered in the ``mmhybrid`` scope (``type='mmhybrid.X'``)."""
from .hmhsa import HMHSA
from .lgl import GlobalSparseAttn, LGLBlock, LocalAgg, SelfAttnBlock
from .topformer_layers import (TopFormerAttention, TopFormerBlock, TopFormerConv2dBN,
                               TopFormerInvertedResidual, TopFormerMlp, TopFormerPyramidPoolAgg,
                               TopFormerSemanticsExtractor, TopFormerSemanticsInjection,
                               TopFormerTokenPyramid)
from .trt_blocks import MixBlockA, MixBlockB, MixBlockC, TRTBottleneck, TRTTransformerBlock

__all__ = ['HMHSA', 'GlobalSparseAttn', 'LGLBlock', 'LocalAgg', 'SelfAttnBlock',
           'TRTBottleneck', 'TRTTransformerBlock', 'MixBlockA', 'MixBlockB', 'MixBlockC',
           'TopFormerAttention', 'TopFormerBlock', 'TopFormerConv2dBN', 'TopFormerInvertedResidual',
           'TopFormerMlp', 'TopFormerPyramidPoolAgg', 'TopFormerSemanticsExtractor',
           'TopFormerSemanticsInjection', 'TopFormerTokenPyramid']
