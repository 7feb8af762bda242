# Copyright (c) mmhybrid contributors. All rights reserved.
"""tools/deployment/quantize.py and mmhybrid.deploy: INT8 static quantization with
ONNX Runtime on tiny generated data (TopFormer-T segmentor, EdgeViT-XXS classifier at 64 px).

The accuracy figures are checked against mmengine's own test loop (same tiny data, the PyTorch
model), the int8 file for QDQ nodes with per-channel weight scales and for outputs close to the
fp32 export, and the tool for its refusals and for leaving nothing at OUT on a failure.
"""
import json
import os
import os.path as osp

import numpy as np
import onnx
import pytest
import torch
import torch.nn as nn
from helpers import load_tool
from onnx import numpy_helper

from mmhybrid.analysis import make_ort_session
from mmhybrid.deploy import data as deploy_data
from mmhybrid.deploy import evaluate, export_and_check, int8_passes, quantize_pipeline
from mmhybrid.deploy import quantize as q
from mmhybrid.tasks import build_task_model
from mmhybrid.testing import TINY_DATASET_CLASSES, make_ade20k, make_imagenet

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOPFORMER = osp.join(ROOT, 'configs/topformer/topformer_t_ade20k.py')
EDGEVIT = osp.join(ROOT, 'configs/edgevit/edgevit-xxs_8xb256_in1k.py')

quantize_tool = load_tool('deployment/quantize.py')

# Measured on the tiny models below (random init, BN statistics randomised, calibrated on every
# training image: 3 for TopFormer, 6 for EdgeViT), on the validation images: the int8 file's
# outputs differ from the fp32 export's by 0.04-0.10 (relative: max |diff| / max |fp32|); 0.2
# leaves room for other CPUs' rounding while a broken quantization (wrong scales, a lost zero
# point) is far off (errors of order 1). With only 2 calibration images EdgeViT reached 0.31
# on a validation image outside the calibrated ranges.
INT8_RTOL = 0.2


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('tiny'))
    return dict(ade=make_ade20k(root, num_train=3, num_val=3, size=(64, 48)),
                imagenet=make_imagenet(root, num_train=6, num_val=6, size=(48, 40)))


def seg_options(ade):
    """TopFormer-T on the tiny ADE20K, tested at 64 x 48 -> 64 x 64 (multiple of 32)."""
    options = {'model.data_preprocessor.size': (64, 64), 'model.backbone.init_cfg': None}
    for split in ('train', 'val', 'test'):
        options[f'{split}_dataloader.dataset.data_root'] = ade
        options[f'{split}_dataloader.num_workers'] = 0
        options[f'{split}_dataloader.persistent_workers'] = False
    for split in ('val', 'test'):
        options[f'{split}_dataloader.dataset.pipeline.1.scale'] = (64, 48)
    return options


def cls_options(imagenet):
    """EdgeViT-XXS on the tiny ImageNet, resized to 64 and centre-cropped to 64 x 64."""
    options = {}
    for split in ('train', 'val', 'test'):
        options[f'{split}_dataloader.dataset.data_root'] = imagenet
        options[f'{split}_dataloader.num_workers'] = 0
        options[f'{split}_dataloader.persistent_workers'] = False
    for split in ('val', 'test'):
        options[f'{split}_dataloader.dataset.pipeline.1.scale'] = 64
        options[f'{split}_dataloader.dataset.pipeline.2.crop_size'] = 64
    return options


def as_cli(options):
    def text(value):
        if isinstance(value, tuple):
            return '(' + ','.join(map(str, value)) + ')'
        return str(value)

    return ['--cfg-options'] + [f'{k}={text(v)}' for k, v in options.items()]


@torch.no_grad()
def save_random_checkpoint(config, options, path):
    """A checkpoint of the randomly initialised model (BN statistics randomised), so that the
    tool and mmengine's test loop load the same weights.

    The last layer is made to pick among the classes of the tiny set (their weights scaled up,
    the other classes' zeroed with a bias of -1), so that predictions vary from pixel to pixel
    and image to image and the metrics are not trivially 0.
    """
    task = build_task_model(config, cfg_options=options)
    if task.scope == 'mmseg':
        layer, name = task.model.decode_head.conv_seg, 'ade20k'
    else:
        layer, name = task.model.head.fc, 'imagenet'
    background, objects = TINY_DATASET_CLASSES[name]
    present = [index for index, _ in ([background] if background else []) + list(objects)]
    absent = torch.ones(layer.weight.shape[0], dtype=torch.bool)
    absent[present] = False
    layer.weight[present] *= 30
    layer.weight[absent] = 0
    layer.bias[absent] = -1
    torch.save({'state_dict': task.model.state_dict(), 'meta': {}}, path)
    return str(path)


def run_tool(args, capsys):
    status = quantize_tool.main([str(a) for a in args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def weight_scales(path):
    """Scales of the DequantizeLinear nodes that read an initializer (the weights)."""
    model = onnx.load(path)
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    return [inits[n.input[1]] for n in model.graph.node
            if n.op_type == 'DequantizeLinear' and n.input[0] in inits and
            inits[n.input[0]].dtype == np.int8]


def int8_vs_fp32(int8, fp32, x):
    outs = []
    for path in (fp32, int8):
        session = make_ort_session(str(path), threads=1)
        outs.append(session.run(None, {session.get_inputs()[0].name: x})[0])
    return float(np.abs(outs[1] - outs[0]).max() / np.abs(outs[0]).max())


@pytest.mark.slow  # export and ONNX Runtime runs on the tiny data: 7-12 s each on 2 cores
@pytest.mark.parametrize('family', ['segmentor', 'classifier'])
def test_tool_quantizes_scores_and_times(family, data, tmp_path, capsys):
    config, options = (TOPFORMER, seg_options(data['ade'])) if family == 'segmentor' else \
        (EDGEVIT, cls_options(data['imagenet']))
    ckpt = save_random_checkpoint(config, options, tmp_path / 'model.pth')
    out, fp32, report = tmp_path / 'int8.onnx', tmp_path / 'fp32.onnx', tmp_path / 'r.json'
    cli = as_cli(options)
    if family == 'segmentor':  # the data root through --data-root, as the README's first hour
        cli = as_cli({k: v for k, v in options.items() if not k.endswith('.data_root')}) + [
            '--data-root', data['ade']]
    status, stdout, stderr = run_tool(
        [config, out, '--checkpoint', ckpt, '--num-calib', 6, '--shape', 64, 64, '--threads', 1,
         '--runs', 3, '--warmup', 1, '--fp32-out', fp32, '--json', report] + cli, capsys)
    assert status == 0, stderr
    assert 'WARNING' not in stdout  # no library chatter (the IoUMetric prefix notice)
    if family == 'segmentor':
        assert f'--data-root: train_dataloader.dataset.data_root: data/ade/' \
            f'ADEChallengeData2016 -> {data["ade"]}' in stdout
    # the last line names every file written
    assert stdout.splitlines()[-1] == f'saved {out}, fp32: {fp32}, numbers: {report}'
    result = json.loads(report.read_text())
    metric = 'mIoU' if family == 'segmentor' else 'accuracy/top1'
    # the printed table: both latencies, the ratio, both metrics and the delta
    lines = {line.split('|')[1].strip(): line for line in stdout.splitlines()
             if line.startswith('| fp32') or line.startswith('| int8')}
    assert set(lines) == {'fp32', 'int8', 'int8 / fp32'}
    assert f'{result["latency"]["fp32"]["median_ms"]:.2f}' in lines['fp32']
    assert f'{result["latency"]["int8"]["median_ms"]:.2f}' in lines['int8']
    assert f'{result["ratio"]:.2f}x' in lines['int8 / fp32']
    assert f'{metric} (val, 3 images)' in stdout if family == 'segmentor' else \
        f'{metric} (val, 6 images)' in stdout
    assert result['metric'] == metric
    assert result['latency']['fp32']['threads'] == result['latency']['int8']['threads'] == 1
    assert result['latency']['int8']['input_shape'] == [1, 3, 64, 64]
    assert result['ratio'] == pytest.approx(
        result['latency']['int8']['median_ms'] / result['latency']['fp32']['median_ms'])
    assert result['delta'] == pytest.approx(
        result['metrics']['int8']['value'] - result['metrics']['fp32']['value'])
    assert 0 <= result['metrics']['fp32']['value'] <= 100
    assert result['num_calib'] == (3 if family == 'segmentor' else 6)
    assert result['calib_split'] == 'train'
    # a QDQ model with per-channel weight scales (one scale per output channel)
    assert result['qdq']['quantize_linear'] > 0 and result['qdq']['per_channel_weights'] > 0
    scales = weight_scales(out)
    assert scales and sum(s.size > 1 for s in scales) >= 0.9 * len(scales)
    # what ORT runs: int8 convolutions, but Softmax in float (no QLinearSoftmax fused)
    kernels = int8_passes.ort_kernel_counts(str(out))
    assert kernels.get('QLinearConv', 0) > 0 and 'Conv' not in kernels
    assert 'QLinearSoftmax' not in kernels
    if family == 'segmentor':  # TopFormer's attention
        assert kernels.get('Softmax', 0) == 4
    # onnxruntime runs it on the validation images, close to the fp32 export
    task = quantize_pipeline.build_quantize_task(config, checkpoint=ckpt, cfg_options=options)
    errors = [int8_vs_fp32(out, fp32, x) for x in deploy_data.load_split_inputs(task, 'val', 3)]
    assert max(errors) < INT8_RTOL


@pytest.mark.slow  # export and ONNX Runtime runs on the tiny data: 7-12 s each on 2 cores
@pytest.mark.parametrize('family', ['segmentor', 'classifier'])
def test_onnx_metric_equals_mmengine_test_loop(family, data, tmp_path):
    """The fp32 ONNX file scored by evaluate_onnx gives mmengine's test-loop mIoU / top-1 for
    the same weights (deploy folding changes logits by float rounding only)."""
    from mmengine.runner import Runner

    from mmhybrid.tasks import load_config
    if family == 'segmentor':
        config, options, metric, images = TOPFORMER, seg_options(data['ade']), 'mIoU', 3
    else:
        config, options = EDGEVIT, cls_options(data['imagenet'])
        metric, images = 'accuracy/top1', 6
    ckpt = save_random_checkpoint(config, options, tmp_path / 'model.pth')
    cfg = load_config(config, options)
    cfg.work_dir = str(tmp_path / 'work')
    cfg.load_from = ckpt
    if family == 'segmentor':
        cfg.default_hooks.visualization = dict(type='SegVisualizationHook', draw=False)
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    expected = runner.test()[metric]
    task = quantize_pipeline.build_quantize_task(config, checkpoint=ckpt, cfg_options=options)
    inputs = deploy_data.load_split_inputs(task, 'val', 1)
    fp32 = tmp_path / 'fp32.onnx'
    export_and_check(task.module, torch.from_numpy(inputs[0]), str(fp32), dynamic=True)
    got = evaluate.evaluate_onnx(str(fp32), task, 'val', threads=1)
    assert got['metric'] == metric and got['images'] == images
    assert got['value'] == pytest.approx(expected, abs=0.02)
    assert evaluate.evaluate_torch(task, 'val')['value'] == pytest.approx(expected, abs=0.02)
    assert 0 < expected < 100  # random weights still predict several classes


def test_refuses_existing_out_without_force(data, tmp_path, capsys):
    out = tmp_path / 'int8.onnx'
    out.write_text('keep me')
    status, _, stderr = run_tool([TOPFORMER, out] + as_cli(seg_options(data['ade'])), capsys)
    assert status == 1
    assert _message(stderr, 'error:') and '--force' in stderr
    assert out.read_text() == 'keep me'


def test_out_may_not_be_the_checkpoint(data, tmp_path, capsys):
    ckpt = tmp_path / 'model.pth'
    ckpt.write_bytes(b'weights')
    status, _, stderr = run_tool(
        [TOPFORMER, ckpt, '--checkpoint', ckpt, '--force'] + as_cli(seg_options(data['ade'])),
        capsys)
    assert status == 1 and 'is the source file' in stderr
    assert ckpt.read_bytes() == b'weights'


def _message(stderr: str, prefix: str) -> str:
    """The tool's own line (library warnings may precede it on stderr)."""
    return next((line for line in stderr.splitlines() if line.startswith(prefix)), '')


@pytest.mark.slow  # export and ONNX Runtime runs on the tiny data: 7-12 s each on 2 cores
def test_failure_leaves_nothing_at_out(data, tmp_path, capsys, monkeypatch):
    """A failure after the int8 file was written (here: in the evaluation) leaves no OUT and no
    temporary file beside it."""
    def broken(*args, **kwargs):
        raise RuntimeError('evaluation broke')

    monkeypatch.setattr(quantize_pipeline, 'evaluate_onnx', broken)
    out = tmp_path / 'out' / 'int8.onnx'
    out.parent.mkdir()
    status, _, stderr = run_tool(
        [TOPFORMER, out, '--num-calib', 1, '--shape', 64, 64] + as_cli(seg_options(data['ade'])),
        capsys)
    assert status == 1
    assert 'evaluation broke' in _message(stderr, 'FAILED:')
    assert os.listdir(out.parent) == []


@pytest.mark.parametrize('case', ['checkpoint', 'data', 'detector', 'slide'])
def test_early_errors_name_the_setting(case, data, tmp_path, capsys, monkeypatch):
    """Errors known before the work starts are raised before building or exporting anything."""
    def reached(*args, **kwargs):
        raise AssertionError('the work started before the error was found')

    monkeypatch.setattr(quantize_tool, 'quantize_config', reached)
    config, extra = TOPFORMER, as_cli(seg_options(data['ade']))
    if case == 'checkpoint':
        extra = ['--checkpoint', tmp_path / 'missing.pth'] + extra
        expect = '--checkpoint'
    elif case == 'data':
        extra = as_cli(dict(seg_options(data['ade']), **{
            'val_dataloader.dataset.data_root': str(tmp_path / 'nowhere')}))
        expect = 'val_dataloader.dataset.data_root'
    elif case == 'detector':
        config, extra = osp.join(ROOT, 'configs/topformer/retinanet_topformer-b_fpn_1x_coco.py'), []
        expect = 'Detectors are out of scope'
    else:
        extra = extra[:1] + ['model.test_cfg.mode=slide'] + extra[1:]
        expect = 'model.test_cfg.mode=whole'
    out = tmp_path / 'int8.onnx'
    status, _, stderr = run_tool([config, out] + extra, capsys)
    assert status == 1
    assert expect in _message(stderr, 'error:'), stderr
    assert not out.exists()


def test_quantize_for_benchmark(tmp_path):
    """The helper for benchmark.py --backend onnxruntime-int8: a runnable QDQ file with
    per-channel weights, calibrated on random inputs of the benchmark shape."""
    module = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(),
                           nn.Conv2d(16, 16, 3, padding=1, groups=16), nn.ReLU(),
                           nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10)).eval()
    inputs = torch.randn(1, 3, 32, 32)
    path = q.quantize_for_benchmark(module, inputs, str(tmp_path / 'bench'), threads=1)
    assert path == str(tmp_path / 'bench' / 'model_int8.onnx')
    counts = int8_passes.count_qdq(path)
    assert counts['quantize_linear'] > 0 and counts['weights'] == 3
    assert counts['per_channel_weights'] == 3  # the Linear layer's (Gemm) too
    session = make_ort_session(path, threads=1)
    out = session.run(None, {session.get_inputs()[0].name: inputs.numpy()})[0]
    expected = module(inputs).detach().numpy()
    assert np.abs(out - expected).max() / np.abs(expected).max() < INT8_RTOL


def test_calibration_reports_one_progress_step_per_batch(tmp_path, monkeypatch):
    """The calibration advances the shared progress bar (mmhybrid.utils.progress) once per
    calibration batch that onnxruntime reads, and closes it."""
    bars = []

    class FakeBar:

        def __init__(self, total=None, progress=True, **kwargs):
            self.total, self.progress, self.n, self.closed = total, progress, 0, False
            bars.append(self)

        def update(self, n=1):
            self.n += n

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.closed = True

    monkeypatch.setattr(q, 'progress_bar', FakeBar)
    module = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 2, 1)).eval()
    fp32 = str(tmp_path / 'fp32.onnx')
    export_and_check(module, torch.randn(1, 3, 8, 8), fp32)
    calib = [torch.randn(1, 3, 8, 8).numpy() for _ in range(5)]
    q.quantize_model(fp32, str(tmp_path / 'int8.onnx'), calib, progress=True)
    assert len(bars) == 1
    assert (bars[0].total, bars[0].n, bars[0].progress, bars[0].closed) == (5, 5, True, True)


def test_fuse_gelu_keeps_exact_gelu_in_float(tmp_path):
    """Exact GELUs (Div, Erf, Add, Mul, Mul as exported) become one float Gelu before
    quantizing: the int8 graph runs Gelu kernels, not QLinearMul/QLinearAdd + Erf pieces."""
    module = nn.Sequential(nn.Conv2d(3, 8, 1), nn.GELU(), nn.Conv2d(8, 8, 1), nn.GELU(),
                           nn.Conv2d(8, 4, 1)).eval()
    inputs = torch.randn(1, 3, 16, 16)
    fp32 = str(tmp_path / 'fp32.onnx')
    export_and_check(module, inputs, fp32)
    model = onnx.load(fp32)
    assert int8_passes.fuse_gelu(model) == 2
    assert [n.op_type for n in model.graph.node].count('Gelu') == 2
    assert not {'Erf', 'Div', 'Mul'} & {n.op_type for n in model.graph.node}
    fused = str(tmp_path / 'fused.onnx')
    onnx.save(model, fused)
    x = inputs.numpy()
    outs = [make_ort_session(p, threads=1).run(None, {'input': x})[0] for p in (fp32, fused)]
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-5, atol=1e-6)
    int8 = str(tmp_path / 'int8.onnx')
    calib = [torch.randn(1, 3, 16, 16).numpy() for _ in range(4)]
    q.quantize_model(fp32, int8, calib)
    kernels = int8_passes.ort_kernel_counts(int8)
    assert kernels.get('Gelu') == 2 and kernels.get('QLinearConv') == 3
    assert not {'Erf', 'QLinearMul', 'QLinearAdd'} & set(kernels)
