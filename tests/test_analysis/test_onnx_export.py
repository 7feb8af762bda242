# Copyright (c) mmhybrid contributors. All rights reserved.
"""tools/deployment/pytorch2onnx.py: one model of each family, with the onnxruntime parity
check (1e-4 relative) it runs after exporting."""
import importlib.util
import os.path as osp

import pytest
import torch
import torch.nn as nn

from mmhybrid.analysis import OnnxParityError, check_onnx_parity, export_and_check, export_onnx

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _load_tool(relative):
    path = osp.join(ROOT, relative)
    spec = importlib.util.spec_from_file_location(osp.splitext(osp.basename(path))[0], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pytorch2onnx = _load_tool('tools/deployment/pytorch2onnx.py')


@pytest.mark.parametrize('config, extra', [
    # classifier in tensor mode, dynamic axes (checked again at another size and batch 2)
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
    assert len(errors) == (2 if extra else 1)
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
