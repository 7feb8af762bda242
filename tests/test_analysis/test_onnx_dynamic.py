# Copyright (c) mmhybrid contributors. All rights reserved.
"""Dynamic-shape ONNX export of whole models (issue 13, section 3): every segmentor and
classifier family and the detectors' backbone + neck, exported with dynamic batch/height/width
and checked in onnxruntime at three input sizes whose remainders modulo 32 and 64 differ;
operators that ONNX cannot express with a dynamic size are refused before tracing."""
import importlib.util
import os.path as osp
import re

import pytest
import torch
import torch.nn as nn

from mmhybrid.deploy.export import (
    OnnxParityError,
    dynamic_check_size,
    dynamic_check_sizes,
    dynamic_export_blockers,
    dynamic_export_mode,
    export_and_check,
    traceable_resizes,
)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _load_pytorch2onnx():
    path = osp.join(ROOT, 'tools', 'deployment', 'pytorch2onnx.py')
    spec = importlib.util.spec_from_file_location('pytorch2onnx', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pytorch2onnx = _load_pytorch2onnx()


def _tool_errors(stdout):
    """``{input shape: max relative error}`` from pytorch2onnx's report."""
    errors = {}
    for line in stdout.splitlines():
        match = re.match(r'onnxruntime vs PyTorch at \[([\d, ]+)\]: max relative error (\S+)',
                         line)
        if match:
            errors[tuple(int(v) for v in match.group(1).split(','))] = float(match.group(2))
    return errors


# Each of these failed before (2-24 % off, or onnxruntime failing, at a second size): TopFormer's
# pyramid-pooling matrices and mmseg's FPN ``Upsample`` sizes were frozen into the graph by
# ``int(...)``, HAT-Net/TransCNN's window-attention key mask by an ``if`` on the export size's
# padding. The EdgeViT-XXS classifier is checked in test_onnx_export.py.
DYNAMIC_CONFIGS = [
    # segmentors: the EncoderDecoder in tensor mode (images -> decode-head logits)
    'configs/topformer/topformer_t_ade20k.py',
    'configs/edgevit/fpn_edgevit-xxs_4xb4-80k_ade20k-512x512.py',
    'configs/hatnet/fpn_hatnet-tiny_4xb4-80k_ade20k-512x512.py',
    'configs/hatnet/fpn_transcnn-tiny_4xb4-80k_ade20k-512x512.py',
    'configs/trt_vit/fpn_trt-vit-a_4xb4-80k_ade20k-512x512.py',
    # classifiers in tensor mode (images -> logits)
    'configs/topformer/topformer-t_8xb128_in1k.py',
    'configs/hatnet/hatnet-tiny_8xb128_in1k.py',
    'configs/hatnet/transcnn-tiny_8xb128_in1k.py',
    'configs/trt_vit/trt-vit-a_8xb128_in1k.py',
    # detectors: backbone + neck
    'configs/topformer/retinanet_topformer-b_fpn_1x_coco.py',
    'configs/hatnet/retinanet_hatnet-tiny_fpn_1x_coco.py',
    'configs/edgevit/retinanet_edgevit-xxs_fpn_1x_coco.py',
]


@pytest.mark.parametrize('config', DYNAMIC_CONFIGS)
def test_dynamic_export_parity_at_three_sizes(config, tmp_path, capsys):
    out = tmp_path / 'model.onnx'
    status = pytorch2onnx.main(
        [osp.join(ROOT, config), str(out), '--shape', '64', '64', '--dynamic'])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    errors = _tool_errors(captured.out)
    assert sorted(errors) == [(1, 3, 64, 64), (1, 3, 88, 104), (2, 3, 112, 144)], captured.out
    assert max(errors.values()) <= 1e-4, errors


@pytest.mark.parametrize('height, width', [(8, 8), (31, 33), (64, 64), (224, 224), (512, 1024)])
def test_dynamic_check_sizes_differ_pairwise_modulo_32_and_64(height, width):
    sizes = [(height, width)] + dynamic_check_sizes(height, width)
    assert len(sizes) == 3 and sizes[1] == dynamic_check_size(height, width)
    for axis in range(2):
        for modulus in (32, 64):
            assert len({size[axis] % modulus for size in sizes}) == 3, (axis, modulus)


class _Scale(nn.Module):

    def forward(self, x):
        return x * 2.


def test_export_and_check_sizes(tmp_path):
    x = torch.rand(1, 3, 8, 8)
    result = export_and_check(_Scale(), x, str(tmp_path / 'a.onnx'), dynamic=True)
    assert list(result.errors) == [(1, 3, 8, 8), (2, 3, 56, 88), (1, 3, 32, 48)]
    # the older one-size form
    result = export_and_check(_Scale(), x, str(tmp_path / 'b.onnx'), dynamic=True,
                              extra_shape=(10, 12))
    assert list(result.errors) == [(1, 3, 8, 8), (2, 3, 10, 12)]
    result = export_and_check(_Scale(), x, str(tmp_path / 'c.onnx'), dynamic=True,
                              extra_shapes=[(9, 9), (10, 12), (7, 5)])
    assert list(result.errors) == [(1, 3, 8, 8), (2, 3, 9, 9), (1, 3, 10, 12), (1, 3, 7, 5)]


class _PoolTo2(nn.Module):

    def __init__(self):
        super().__init__()
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d((2, 2)))
        self.gap = nn.AdaptiveAvgPool2d(1)  # pooling to 1 exports at any size

    def forward(self, x):
        return self.pool(x) + self.gap(x)


def test_dynamic_export_blockers():
    assert dynamic_export_blockers(_PoolTo2()) == [
        'pool.0 (AdaptiveAvgPool2d to (2, 2)): ONNX has no adaptive pooling; the exporter '
        'needs a static input size (a multiple of the output size) to turn it into a fixed '
        'kernel and stride']
    assert dynamic_export_blockers(nn.AdaptiveMaxPool2d((1, None))) == []
    assert dynamic_export_blockers(nn.AdaptiveMaxPool1d(3))[0].startswith(
        'AdaptiveMaxPool1d (AdaptiveMaxPool1d to 3)')


def test_dynamic_export_is_refused_before_tracing(tmp_path, monkeypatch):

    def no_export(*args, **kwargs):
        raise AssertionError('traced although refused')

    path = tmp_path / 'a.onnx'
    with monkeypatch.context() as patch:
        patch.setattr(torch.onnx, 'export', no_export)
        with pytest.raises(RuntimeError, match=r'_PoolTo2 cannot be exported with dynamic '
                           r'height/width: pool.0 \(AdaptiveAvgPool2d to \(2, 2\)\): ONNX has '
                           r'no adaptive pooling.*without --dynamic'):
            export_and_check(_PoolTo2(), torch.rand(1, 3, 8, 8), str(path), dynamic=True)
    assert not path.exists()
    # the same module exports at a fixed size
    assert export_and_check(_PoolTo2(), torch.rand(1, 3, 8, 8), str(path)).passed


def test_tool_reports_the_refusal(tmp_path, capsys, monkeypatch):

    class Task:
        module = _PoolTo2()

        @staticmethod
        def make_inputs(batch=1):
            return torch.rand(batch, 3, 8, 8)

    monkeypatch.setattr(pytorch2onnx, 'build_task_model', lambda *args, **kwargs: Task)
    out = tmp_path / 'model.onnx'
    assert pytorch2onnx.main(['pool', str(out), '--shape', '8', '8', '--dynamic']) == 1
    err = capsys.readouterr().err
    assert err.startswith('FAILED: _PoolTo2 cannot be exported with dynamic height/width: '
                          'pool.0 (AdaptiveAvgPool2d to (2, 2))'), err
    assert not out.exists()


@pytest.mark.parametrize('scale_factor', [2, 4, 1.5, 2.7])
def test_mmseg_upsample_is_traced_with_a_symbolic_size(scale_factor, tmp_path):
    from mmseg.models.utils import Upsample

    model = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1),
                          Upsample(scale_factor=scale_factor, mode='bilinear')).eval()
    upsample = model[1]
    x = torch.rand(1, 3, 10, 14)
    with torch.no_grad():
        expected = model(x)
        with traceable_resizes(model) as patched:
            assert patched == [upsample] and 'forward' in vars(upsample)
            torch.testing.assert_close(model(x), expected, rtol=0, atol=0)
    assert 'forward' not in vars(upsample)  # only inside the context
    result = export_and_check(model, x, str(tmp_path / 'up.onnx'), dynamic=True)
    assert len(result.errors) == 3 and result.passed, result.errors


def test_the_exporter_tells_hmhsa_about_dynamic_shapes(tmp_path):
    """HAT-Net/TransCNN's window attention is told by the exporter (no global flag) that the
    trace gets dynamic sizes; exported at a size that needs no padding, it is then right at
    sizes that do, and it is wrong without being told."""
    from mmhybrid.models.layers import HMHSA

    model = nn.Sequential(HMHSA(32, head_dim=16, grid_size=4, ds_ratio=2), nn.Identity()).eval()
    attn = model[0]
    assert attn.dynamic_export is False
    with dynamic_export_mode(model) as told:
        assert told == [attn] and attn.dynamic_export is True
    assert attn.dynamic_export is False  # only inside the context

    x, padded_sizes = torch.rand(1, 32, 16, 16), [(18, 23), (13, 10)]
    result = export_and_check(model, x, str(tmp_path / 'told.onnx'), dynamic=True,
                              extra_shapes=padded_sizes)
    assert len(result.errors) == 3 and result.passed, result.errors
    assert attn.dynamic_export is False

    attn.set_dynamic_export = lambda enabled=True: None  # deaf to the exporter
    with pytest.raises(OnnxParityError):
        export_and_check(model, x, str(tmp_path / 'deaf.onnx'), dynamic=True,
                         extra_shapes=padded_sizes)
