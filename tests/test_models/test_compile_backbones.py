# Copyright (c) mmhybrid contributors. All rights reserved.
"""``torch.compile`` on every backbone: no graph breaks, and the compiled forward equals eager.

* ``torch._dynamo.explain`` captures each backbone's forward as one graph, in training and in
  eval mode, at a size that needs no padding and at an odd size that takes the any-size padding
  paths (EdgeViT's and HAT-Net's pads, TopFormer's pooled sizes).
* Inductor (the default ``torch.compile`` backend) gives the eager outputs within 1e-4 relative
  (max |diff| / max |eager|) at the odd size (one compilation per backbone), with
  deterministic, well-conditioned weights (``deterministic_weights``). Depths are cut to one
  block per stage, so each compilation takes seconds, not a minute, on a 2-core CPU, while
  every block type is still compiled.
"""
import pytest
import torch
import torch.nn as nn

from mmhybrid.models import EdgeViT, HATNet, TopFormer, TransCNN, TRTViT

#: name -> (constructor, sizes: one padding-free, one odd).
BACKBONES = {
    'TopFormer-dense': (lambda: TopFormer(arch='tiny', mode='dense', out_indices=(0, 1, 2, 3)),
                        ((128, 128), (131, 157))),
    'TopFormer-global': (lambda: TopFormer(arch='tiny', mode='global',
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


def _outputs(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


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


@pytest.mark.slow
@pytest.mark.parametrize('name', NAMES)
def test_compiled_backbone_matches_eager(name, deterministic_weights, deterministic_input):
    constructor, sizes = BACKBONES[name]
    model: nn.Module = deterministic_weights(constructor()).eval()
    torch._dynamo.reset()
    compiled = torch.compile(model, dynamic=False)
    height, width = sizes[-1]
    x = deterministic_input((2, 3, height, width)).float()
    with torch.no_grad():
        expected, got = _outputs(model(x)), _outputs(compiled(x))
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        assert a.shape == b.shape
        error = ((a - b).abs().max() / b.abs().max()).item()
        assert error <= 1e-4, (name, (height, width), error)
    torch._dynamo.reset()
