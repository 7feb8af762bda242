# Copyright (c) mmhybrid contributors. All rights reserved.
"""``torch.compile`` on every backbone: no graph breaks.

``torch._dynamo.explain`` captures each backbone's forward as one graph, in training and in eval
mode, at a size that needs no padding and at an odd size that takes the any-size padding paths
(EdgeViT's and HAT-Net's pads, TopFormer's pooled sizes). It traces with dynamo only and
generates no code, so it costs seconds, not inductor's minutes.

That the code inductor generates computes what eager does is checked once per family, by
compiled training (forward and backward) against eager training at an odd size in
``tests/test_engine/test_compile.py``: TopFormer (``tools/train.py --compile``; its validation
runs eagerly, as the hook's default), EdgeViT, HAT-Net and TRT-ViT. TransCNN is not compiled
there: it is HAT-Net's code (``_HierarchicalAttentionNet``, the same ``HATBlock`` and H-MHSA)
with another norm and downsampler; TopFormer's 'global' mode computes a subset of the 'dense'
graph (no SIMs). Both still go through ``explain`` here.
"""
import pytest
import torch
from helpers import TOPFORMER_T_CUT

from mmhybrid.models import EdgeViT, HATNet, TopFormer, TransCNN, TRTViT

#: Each family cut to one block per stage (TopFormer-T: ``TOPFORMER_T_CUT``); every block type
#: stays.
TOPFORMER_ARCH = dict(TopFormer.parse_arch('tiny'), **TOPFORMER_T_CUT)

#: name -> (constructor, sizes: one padding-free, one odd).
BACKBONES = {
    'TopFormer-dense': (lambda: TopFormer(arch=TOPFORMER_ARCH, mode='dense',
                                          out_indices=(0, 1, 2, 3)), ((128, 128), (131, 157))),
    'TopFormer-global': (lambda: TopFormer(arch=TOPFORMER_ARCH, mode='global',
                                           out_indices=(0, 1, 2, 3, 4)),
                         ((128, 128), (131, 157))),
    'EdgeViT': (lambda: EdgeViT(arch=dict(EdgeViT.parse_arch('xxs'), depths=[1, 1, 1, 1])),
                ((64, 64), (67, 93))),
    'HATNet': (lambda: HATNet(arch=dict(HATNet.parse_arch('tiny'), depths=[1, 1, 1, 1])),
               ((64, 64), (67, 93))),
    'TransCNN': (lambda: TransCNN(arch=dict(TransCNN.parse_arch('tiny'), depths=[1, 1, 1, 1])),
                 ((64, 64), (67, 93))),
    'TRTViT': (lambda: TRTViT(arch=dict(TRTViT.parse_arch('a'), depths=[1, 1, 1, 1],
                                        num_mix_blocks=[0, 0, 0, 1])), ((64, 64), (67, 93))),
}
NAMES = list(BACKBONES)


@pytest.mark.slow
@pytest.mark.parametrize('name', NAMES)
def test_backbone_forward_has_no_graph_breaks(name):
    constructor, sizes = BACKBONES[name]
    model = constructor()
    for training in (True, False):
        model.train(training)
        for height, width in sizes:
            torch._dynamo.reset()
            explanation = torch._dynamo.explain(model)(torch.randn(2, 3, height, width))
            reasons = [str(reason.reason) for reason in explanation.break_reasons]
            assert explanation.graph_break_count == 0, (name, training, (height, width), reasons)
            assert explanation.graph_count == 1
    torch._dynamo.reset()
