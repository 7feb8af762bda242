# Copyright (c) mmhybrid contributors. All rights reserved.
import numpy as np
import pytest
import torch
from helpers import randomize_batchnorm_stats

from mmhybrid.models import EdgeViT
from mmhybrid.models.utils import switch_to_deploy

ort = pytest.importorskip('onnxruntime')

TINY_ARCH = dict(depths=[1, 1, 1, 1], embed_dims=[8, 16, 24, 32], num_heads=[1, 2, 3, 4],
                 mlp_ratios=[2, 2, 2, 2], sr_ratios=[4, 2, 2, 1])


# Padding decisions are Python-level, so each size gets its own (static) graph.
@pytest.mark.filterwarnings('ignore::torch.jit.TracerWarning')
@pytest.mark.parametrize('hw', [(64, 64), (70, 90)])
@pytest.mark.parametrize('deploy', [False, True])
def test_onnx_export_matches_pytorch(hw, deploy, tmp_path):
    model = EdgeViT(TINY_ARCH, final_norm=True)
    randomize_batchnorm_stats(model)
    model.eval()
    if deploy:
        switch_to_deploy(model)
    x = torch.rand(1, 3, *hw)
    with torch.no_grad():
        expected = model(x)
    path = str(tmp_path / 'edgevit.onnx')
    # The TorchScript exporter: the dynamo one needs onnxscript, which is not a dependency.
    torch.onnx.export(model, (x, ), path, opset_version=17, dynamo=False,
                      input_names=['input'], output_names=[f'out{i}' for i in range(4)])
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    got = session.run(None, {'input': x.numpy()})
    assert len(got) == 4
    for g, e in zip(got, expected):
        assert g.shape == tuple(e.shape)
        np.testing.assert_allclose(g, e.numpy(), rtol=1e-4, atol=1e-5)
