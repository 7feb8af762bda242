# Copyright (c) mmhybrid contributors. All rights reserved.
import numpy as np
import onnxruntime as ort
import torch
import torch.nn as nn

from mmhybrid.models.utils import crop_to, pad_to_multiple


def test_pad_to_multiple_pads_bottom_right_and_is_identity_when_aligned():
    x = torch.rand(1, 2, 6, 9)
    padded, (pad_h, pad_w) = pad_to_multiple(x, 4)
    assert padded.shape[-2:] == (8, 12) and (pad_h, pad_w) == (2, 3)
    assert torch.equal(padded[..., :6, :9], x)
    assert padded[..., 6:, :].abs().sum() == 0 and padded[..., :, 9:].abs().sum() == 0
    aligned = torch.rand(1, 2, 8, 12)
    same, pads = pad_to_multiple(aligned, 4)
    assert same is aligned and pads == (0, 0)
    assert crop_to(aligned, 8, 12) is aligned
    assert crop_to(padded, 6, 9).shape[-2:] == (6, 9)


class _PoolPadded(nn.Module):
    """Average-pools 4x4 cells of a zero-padded input and crops the upsampled map back."""

    def forward(self, x):
        h, w = x.shape[-2:]
        padded, _ = pad_to_multiple(x, 4)
        pooled = nn.functional.avg_pool2d(padded, 4)
        up = nn.functional.interpolate(pooled, scale_factor=4.0, mode='nearest')
        return crop_to(up, h, w)


def test_dynamic_onnx_export_pads_at_sizes_other_than_the_export_size(tmp_path):
    model = _PoolPadded().eval()
    path = str(tmp_path / 'pad.onnx')
    torch.onnx.export(model, torch.rand(1, 1, 8, 8), path, opset_version=17, dynamo=False,
                      input_names=['x'], output_names=['y'],
                      dynamic_axes={'x': {2: 'h', 3: 'w'}, 'y': {2: 'h', 3: 'w'}})
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    for size in [(8, 8), (10, 13), (5, 7)]:  # aligned at export; needs padding afterwards
        x = torch.rand(1, 1, *size)
        expected = model(x).numpy()
        (actual, ) = session.run(None, {'x': x.numpy()})
        assert actual.shape == expected.shape
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)
