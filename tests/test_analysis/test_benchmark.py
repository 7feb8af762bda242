# Copyright (c) mmhybrid contributors. All rights reserved.
"""Smoke runs of tools/analysis_tools/benchmark.py, benchmark_topformer_deploy.py and
reproduce_tables.py, and the latency protocol (no timing assertions: speed belongs in
benchmarks, not in tests)."""
import json
import mmap
import os.path as osp
import time

import pytest
import torch

from mmhybrid.analysis import LatencyResult, measure_latency

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_SEG = osp.join(ROOT, 'configs/topformer/topformer_t_ade20k.py')


def test_measure_latency_protocol():
    calls = []

    def call():  # sleeps >= 2 ms and keeps 8 MiB of fresh, touched pages per call
        block = mmap.mmap(-1, 8 * 2**20)  # not heap memory malloc could reuse without new RSS
        block.write(b'\x01' * len(block))
        calls.append(block)
        time.sleep(2e-3)

    result = measure_latency(call, warmup=3, runs=7, batch=4)
    assert len(calls) == 10 and result.runs == 7 and result.warmup == 3
    assert result.median_ms >= result.min_ms >= 2 and result.max_ms >= result.median_ms
    assert result.images_per_s == pytest.approx(4e3 / result.median_ms)
    # The memory is measured over the warm-up calls: 3 x 8 MiB kept alive.
    assert result.memory_kind == 'cpu peak rss delta'
    assert 20 <= result.peak_memory_mib < 200
    assert result.threads == torch.get_num_threads()
    with pytest.raises(ValueError, match='runs must be >= 1'):
        measure_latency(lambda: None, runs=0)


def test_latency_statistics():
    result = LatencyResult(times_ms=[4., 1., 3., 2., 100.], batch=2)
    assert result.median_ms == 3. and result.min_ms == 1. and result.max_ms == 100.
    assert result.iqr_ms == pytest.approx(2.)  # p75 4 - p25 2
    assert result.to_dict()['images_per_s'] == pytest.approx(2e3 / 3.)


def test_benchmark_tool_compare_modes(tmp_path, capsys, load_tool):
    benchmark = load_tool('analysis_tools/benchmark.py')
    out = tmp_path / 'latency.json'
    info = benchmark.main([TINY_SEG, '--shape', '64', '64', '--compare', '--warmup', '1',
                           '--runs', '2', '--threads', '1', '--out', str(out)])
    assert [row['mode'] for row in info['results']] == ['eager', 'fused', 'onnxruntime']
    for row in info['results']:
        assert row['runs'] == 2 and row['threads'] == 1 and row['rel_error'] <= 1e-4
        assert row['input_shape'] == [1, 3, 64, 64]
    assert info['machine']['cpu'] and info['threads'] == 1
    assert json.loads(out.read_text())['scope'] == 'mmseg'
    assert 'img/s' in capsys.readouterr().out


@pytest.mark.slow
def test_benchmark_tool_onnxruntime_backend_on_a_detector(load_tool):
    benchmark = load_tool('analysis_tools/benchmark.py')
    info = benchmark.main([
        osp.join(ROOT, 'configs/edgevit/retinanet_edgevit-xxs_fpn_1x_coco.py'), '--shape', '64',
        '64', '--backend', 'onnxruntime', '--deploy', '--warmup', '1', '--runs', '2'])
    assert info['part'] == 'model' and info['results'][0]['mode'] == 'onnxruntime'


def test_reproduce_tables_smoke(tmp_path, load_tool):
    tool = load_tool('analysis_tools/reproduce_tables.py')
    out = tmp_path / 'tables.md'
    rows = tool.main(['--models', 'edgevit-xxs_8xb256_in1k', '--modes', 'eager', '--runs', '1',
                      '--warmup', '0', '--sizes', '64', '--out', str(out)])
    assert len(rows) == 1 and rows[0]['params'] == 4067704
    text = out.read_text()
    assert '| edgevit-xxs_8xb256_in1k | 224x224 | 4.07 | 4.07 | 0.56 | 0.56 | 74.4 | ' \
        'not evaluated |' in text
    for suffix in ('_accuracy_vs_latency.png', '_latency_vs_size.png', '.json'):
        assert (tmp_path / f'tables{suffix}').stat().st_size > 0


def test_deploy_benchmark_script_runs(capsys, load_tool):
    pytest.importorskip('mmseg')
    script = load_tool('analysis_tools/benchmark_topformer_deploy.py')
    script.main([TINY_SEG, '--shape', '64', '64', '--warmup', '0', '--runs', '1'])
    row = capsys.readouterr().out.strip().splitlines()[-1].split()
    assert row[0] == 'topformer_t_ade20k' and row[1] == '1.390'
    assert float(row[-1]) < 1e-4  # fused vs eager relative difference


def test_reproduce_tables_writes_no_empty_plot(tmp_path, load_tool, capsys):
    """``--sizes`` without values skips the latency-vs-size measurements: the figure has no
    curve, and it used to be written as empty axes."""
    tool = load_tool('analysis_tools/reproduce_tables.py')
    out = tmp_path / 'tables.md'
    tool.main(['--models', 'edgevit-xxs_8xb256_in1k', '--modes', 'eager', '--runs', '1',
               '--warmup', '0', '--sizes', '--out', str(out)])
    assert (tmp_path / 'tables_accuracy_vs_latency.png').stat().st_size > 0
    assert not (tmp_path / 'tables_latency_vs_size.png').exists()
    assert f'not written: {tmp_path}/tables_latency_vs_size.png (nothing to plot)' in \
        capsys.readouterr().out
