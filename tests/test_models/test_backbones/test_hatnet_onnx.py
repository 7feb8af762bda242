# Copyright (c) mmhybrid contributors. All rights reserved.
"""ONNX export of TransCNN / HAT-Net with onnxruntime parity (padded and unpadded sizes)."""
import io

import pytest
import torch
from helpers import randomize_batchnorm_stats

from mmhybrid.models.backbones.hatnet import HATNet, TransCNN

ort = pytest.importorskip('onnxruntime')
pytest.importorskip('onnx')

TINY_ARCH = dict(embed_dims=[16, 32, 48, 64], head_dim=16, expansions=[2, 2, 2, 2],
                 grid_sizes=[4, 2, 2, 1], ds_ratios=[4, 2, 2, 1], depths=[1, 1, 2, 1],
                 kernel_sizes=[3, 3, 5, 3])


@pytest.mark.parametrize('cls', [TransCNN, HATNet])
@pytest.mark.parametrize('size', [(64, 64), (50, 75)])
def test_onnxruntime_matches_eager(cls, size):
    model = cls(TINY_ARCH).eval()
    randomize_batchnorm_stats(model)
    x = torch.randn(1, 3, *size)
    buffer = io.BytesIO()
    torch.onnx.export(model, (x, ), buffer, dynamo=False, opset_version=17,
                      input_names=['input'], output_names=[f'out{i}' for i in range(4)])
    session = ort.InferenceSession(buffer.getvalue(), providers=['CPUExecutionProvider'])
    outputs = session.run(None, {'input': x.numpy()})
    with torch.no_grad():
        expected = model(x)
    assert len(outputs) == len(expected) == 4
    for out, ref in zip(outputs, expected):
        torch.testing.assert_close(torch.from_numpy(out), ref, rtol=1e-4, atol=1e-4)
