# Copyright (c) mmhybrid contributors. All rights reserved.
"""tools/deployment/pytorch2onnx.py: one model of each family, with the onnxruntime parity
check (1e-4 relative) it runs after exporting."""
import os
import os.path as osp
import re

import pytest
import torch
import torch.nn as nn
from helpers import load_tool

from mmhybrid.deploy import (
    OnnxParityError,
    check_onnx_parity,
    dynamic_check_size,
    export_and_check,
    export_onnx,
)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


pytorch2onnx = load_tool('deployment/pytorch2onnx.py')


@pytest.mark.parametrize('config, extra', [
    # classifier in tensor mode, dynamic axes (checked again at two more sizes)
    ('configs/edgevit/edgevit-xxs_8xb256_in1k.py', ['--dynamic']),
    # classifier, H-MHSA with masked window padding (64 is no multiple of the grid)
    pytest.param('configs/hatnet/hatnet-tiny_8xb128_in1k.py', [], marks=pytest.mark.slow),
    # the whole EncoderDecoder in tensor mode
    ('configs/topformer/topformer_t_ade20k.py', []),
    # detector: backbone + neck
    pytest.param('configs/trt_vit/retinanet_trt-vit-a_fpn_1x_coco.py', [],
                 marks=pytest.mark.slow),
])
def test_export_one_model_per_family(config, extra, tmp_path, capsys):
    out = tmp_path / 'model.onnx'
    status = pytorch2onnx.main([osp.join(ROOT, config), str(out), '--shape', '64', '64'] + extra)
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert out.is_file()
    errors = [float(line.split('max relative error ')[1].split()[0])
              for line in captured.out.splitlines() if 'max relative error' in line]
    assert len(errors) == (3 if extra else 1)  # dynamic: three sizes
    assert max(errors) <= 1e-4


@pytest.mark.slow
def test_backbone_part_has_one_output_per_stage(tmp_path):
    import onnx
    out = tmp_path / 'backbone.onnx'
    result = pytorch2onnx.pytorch2onnx(
        osp.join(ROOT, 'configs/edgevit/fpn_edgevit-xxs_4xb4-80k_ade20k-512x512.py'),
        str(out), (64, 64), part='backbone')
    assert result.passed
    assert [o.name for o in onnx.load(str(out)).graph.output] == [f'output{i}' for i in range(4)]


class _Scale(nn.Module):

    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor


def test_parity_check_fails_on_mismatch(tmp_path):
    x = torch.rand(1, 3, 8, 8)
    path = str(tmp_path / 'scale.onnx')
    assert export_and_check(_Scale(2.), x, path, dynamic=True).passed
    with pytest.raises(OnnxParityError, match='rtol=0.0001'):
        check_onnx_parity(path, _Scale(2.001), [x])
    # within tolerance: 2 * (1 + 5e-5)
    assert check_onnx_parity(path, _Scale(2. * (1 + 5e-5)), [x]).max_error < 1e-4


def test_dynamic_export_of_size_dependent_graph_is_refused(tmp_path):

    class AdaptiveToHalf(nn.Module):

        def forward(self, x):
            return nn.functional.adaptive_avg_pool2d(x, (x.shape[2] // 2, x.shape[3] // 2))

    with pytest.raises(RuntimeError, match='without --dynamic'):
        export_onnx(AdaptiveToHalf(), torch.rand(1, 3, 8, 8), str(tmp_path / 'a.onnx'),
                    dynamic=True)


class _FrozenWidthRemainder(nn.Module):
    """Scales by ``W mod 32``, which tracing freezes into the graph as a constant (as a padding
    amount would be)."""

    def forward(self, x):
        return x * float(x.shape[3] % 32 + 1)


class _FrozenReshape(nn.Module):
    """Reshapes to the traced size: onnxruntime raises its own exception at any other size."""

    def forward(self, x):
        return x.reshape(int(x.shape[0]), int(x.shape[1] * x.shape[2] * x.shape[3]))


def _temporary_files(folder):
    from mmhybrid.utils.fileio import TEMP_PREFIX
    return [name for name in os.listdir(folder) if name.startswith(TEMP_PREFIX)]


@pytest.mark.parametrize('height, width', [(8, 8), (31, 33), (32, 64), (64, 64), (224, 224),
                                           (480, 640), (512, 1024), (1, 63)])
def test_dynamic_check_size_differs_modulo_32_and_64(height, width):
    check_height, check_width = dynamic_check_size(height, width)
    for size, check in ((height, check_height), (width, check_width)):
        assert check > size
        assert check % 32 != size % 32 and check % 64 != size % 64
    assert check_height - height != check_width - width


def test_dynamic_check_catches_a_frozen_remainder(tmp_path):
    path = tmp_path / 'frozen.onnx'
    with pytest.raises(OnnxParityError, match=r'\[2, 3, 56, 88\]'):
        export_and_check(_FrozenWidthRemainder(), torch.rand(1, 3, 8, 8), str(path),
                         dynamic=True)
    assert not path.exists() and _temporary_files(tmp_path) == []
    # without dynamic axes the (fixed-size) graph is right
    assert export_and_check(_FrozenWidthRemainder(), torch.rand(1, 3, 8, 8), str(path)).passed
    assert path.is_file() and _temporary_files(tmp_path) == []


def test_failed_check_keeps_an_existing_file(tmp_path):
    path = tmp_path / 'model.onnx'
    path.write_bytes(b'previous export')
    with pytest.raises(OnnxParityError, match='onnxruntime failed to run .*model.onnx at input '
                       r'shape \[2, 3, 56, 88\]'):
        export_and_check(_FrozenReshape(), torch.rand(1, 3, 8, 8), str(path), dynamic=True)
    assert path.read_bytes() == b'previous export'
    assert _temporary_files(tmp_path) == []


class _TinyTask:
    """Stands in for :class:`mmhybrid.tasks.TaskModel` (tiny module, tiny input)."""

    def __init__(self, module, shape):
        self.module, self.shape = module, shape

    def make_inputs(self, batch=1):
        return torch.rand(batch, 3, *self.shape)


@pytest.fixture
def tiny_tool(monkeypatch):
    """pytorch2onnx with the model built from the "config" name: a module class below."""
    modules = dict(scale=lambda: _Scale(2.), frozen=_FrozenWidthRemainder,
                   reshape=_FrozenReshape)

    def build(config, shape, **kwargs):
        return _TinyTask(modules[config](), shape)

    monkeypatch.setattr(pytorch2onnx, 'build_task_model', build)
    return pytorch2onnx


@pytest.mark.parametrize('model, extra, expected', [
    ('scale', ['--rtol', '-1'], 'more than rtol=-1'),  # every check fails
    ('frozen', ['--dynamic'], r'\[2, 3, 56, 88\]'),
    ('reshape', ['--dynamic'], r'onnxruntime failed to run .* at input shape \[2, 3, 56, 88\]'),
])
def test_tool_failure_leaves_no_file(tiny_tool, tmp_path, capsys, model, extra, expected):
    out = tmp_path / 'model.onnx'
    assert tiny_tool.main([model, str(out), '--shape', '8', '8'] + extra) == 1
    err = capsys.readouterr().err
    assert err.startswith('FAILED: ') and re.search(expected, err), err
    assert 'Traceback' not in err
    assert not out.exists() and _temporary_files(tmp_path) == []


def test_tool_refuses_an_existing_output_without_force(tiny_tool, tmp_path, capsys):
    out = tmp_path / 'model.onnx'
    out.write_bytes(b'mine')
    assert tiny_tool.main(['scale', str(out), '--shape', '8', '8']) == 1
    err = capsys.readouterr().err
    assert err.startswith('error: ') and '--force' in err
    assert out.read_bytes() == b'mine'
    assert tiny_tool.main(['scale', str(out), '--shape', '8', '8', '--force']) == 0
    assert out.read_bytes() != b'mine' and _temporary_files(tmp_path) == []


def test_mobile_takes_no_value_so_out_may_follow_it():
    """``--mobile OUT`` used to read OUT as the value of ``--mobile``."""
    args = pytorch2onnx.parse_args(['cfg.py', '--mobile', 'out.onnx', '--shape', '64', '64'])
    assert args.out == 'out.onnx' and args.mobile and args.mobile_profile is None
    args = pytorch2onnx.parse_args(['cfg.py', 'out.onnx', '--shape', '64', '64', '--mobile',
                                    '--mobile-profile', 'approx-erf'])
    assert args.mobile_profile == 'approx-erf'


@pytest.mark.parametrize('argv, expected', [
    (['--shape', '0', '64'], 'argument --shape: must be a positive integer, got 0'),
    (['--shape', '64', '64', '--batch', '-1'], 'argument --batch: must be a positive integer'),
    (['--shape', '64', '64', '--mobile-profile', 'exact'], '--mobile-profile needs --mobile'),
])
def test_argument_errors_name_the_argument(argv, expected, capsys):
    """``--shape 0`` used to fail inside the model with an error about a kernel size."""
    with pytest.raises(SystemExit):
        pytorch2onnx.parse_args(['cfg.py', 'out.onnx'] + argv)
    assert expected in capsys.readouterr().err


@pytest.mark.slow
def test_detector_export_says_it_holds_backbone_and_neck(tmp_path, capsys):
    out = tmp_path / 'detector.onnx'
    config = osp.join(ROOT, 'configs/edgevit/retinanet_edgevit-xxs_fpn_1x_coco.py')
    assert pytorch2onnx.main([config, str(out), '--shape', '64', '64']) == 0
    assert 'a detector is exported as backbone + neck' in capsys.readouterr().out
