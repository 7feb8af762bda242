# Copyright (c) mmhybrid contributors. All rights reserved.
"""The deploy paths side by side: ``benchmark.py --compile`` / ``--backend onnxruntime-int8``
and ``deploy_latency.py`` (the table of docs/en/latency.md). Outputs are checked against eager
(numbers), not timings: speed belongs in the benchmark runs, not in tests."""
import functools
import json
import os.path as osp

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOPFORMER_SEG = osp.join(ROOT, 'configs/topformer/topformer_t_ade20k.py')

pytestmark = pytest.mark.slow  # inductor compiles, int8 calibration, ONNX Runtime sessions


def test_benchmark_compile_reports_compile_time_and_parity(tmp_path, capsys, load_tool):
    benchmark = load_tool('analysis_tools/benchmark.py')
    info = benchmark.main([TOPFORMER_SEG, '--shape', '128', '128', '--deploy', '--compile',
                           '--warmup', '1', '--runs', '2', '--threads', '1'])
    (row, ) = info['results']
    assert row['mode'] == 'compiled default'
    assert row['compile_s'] > 0 and row['median_ms'] > 0
    assert row['rel_error'] <= 1e-4
    assert 'compiling (the first call) took' in capsys.readouterr().out
    with pytest.raises(SystemExit, match='cannot be combined with --backend onnxruntime'):
        benchmark.main([TOPFORMER_SEG, '--shape', '128', '128', '--compile',
                        '--backend', 'onnxruntime'])


def test_benchmark_int8_backend(load_tool):
    benchmark = load_tool('analysis_tools/benchmark.py')
    info = benchmark.main([TOPFORMER_SEG, '--shape', '128', '128', '--backend',
                           'onnxruntime-int8', '--warmup', '1', '--runs', '2', '--threads', '1'])
    (row, ) = info['results']
    assert row['mode'] == 'onnxruntime-int8' and row['median_ms'] > 0
    # int8 differs from fp32, but stays a faithful approximation of it.
    assert 1e-4 < row['rel_error'] < 0.3


def test_deploy_latency_table(tmp_path, capsys, load_tool, monkeypatch):
    tool = load_tool('analysis_tools/deploy_latency.py')
    # The table's layout and every path's parity are checked here; inductor's code for the
    # compiled path is checked by the --compile test above. Dynamo still captures the fused
    # model, but the captured graph runs eagerly: no code generation (minutes on 2 cores).
    from mmhybrid.deploy import compare
    monkeypatch.setattr(compare, 'compile_for_inference', functools.partial(
        compare.compile_for_inference, backend='eager'))
    accuracy = tmp_path / 'acc.json'
    accuracy.write_text(json.dumps(dict(
        config='configs/topformer/topformer_t_ade20k.py', metric='mIoU',
        delta=-0.5, metrics=dict(fp32=dict(value=75.0, images=8), int8=dict(value=74.5)))))
    out = tmp_path / 'deploy.md'
    doc = tmp_path / 'latency.md'
    doc.write_text(f'# Latency\nintro\n{tool.START_MARKER}\nold table\n{tool.END_MARKER}\nrest\n')
    rows = tool.main(['--models', TOPFORMER_SEG, '--baselines', 'MobileNetV3-Small',
                      '--shape', '128', '128', '--threads', '1', '--runs', '2', '--warmup', '1',
                      '--int8-accuracy', str(accuracy), '--out', str(out), '--into', str(doc)])
    assert [row['name'] for row in rows] == ['topformer_t_ade20k', 'MobileNetV3-Small']
    for row in rows:
        paths = {r['mode']: r for r in row['threads']['1']}
        assert list(paths) == ['eager', 'fused', 'compiled', 'onnxruntime', 'onnxruntime-int8']
        for mode in ('fused', 'compiled', 'onnxruntime'):
            assert paths[mode]['rel_error'] <= 1e-4, (row['name'], mode)
        assert paths['onnxruntime-int8']['rel_error'] < 0.3
        assert paths['compiled']['compile_s'] > 0
    text = out.read_text()
    assert '| topformer_t_ade20k | 128x128 |' in text
    assert 'mIoU 75.00 -> 74.50 (-0.50)' in text
    assert 'ORT int8 / MobileNetV3-Small' in text
    updated = doc.read_text()
    assert updated.startswith('# Latency\nintro\n')
    assert updated.endswith(f'{tool.END_MARKER}\nrest\n')
    assert 'old table' not in updated and '### 1 thread' in updated
    assert '| topformer_t_ade20k | 128x128 |' in updated
    data = json.loads((tmp_path / 'deploy.json').read_text())
    assert data['int8_accuracy']['topformer_t_ade20k']['delta'] == -0.5
    # The layout can be re-rendered from the run's JSON without measuring again.
    tool.main(['--from-json', str(tmp_path / 'deploy.json'), '--out', str(tmp_path / 'again.md')])
    assert (tmp_path / 'again.md').read_text() == text
    before = out.read_text()
    with pytest.raises(SystemExit, match='exists'):
        tool.main(['--models', TOPFORMER_SEG, '--out', str(out)])
    assert out.read_text() == before
    no_markers = tmp_path / 'plain.md'
    no_markers.write_text('# nothing to replace\n')
    with pytest.raises(SystemExit, match='no <!-- deploy-latency:start'):
        tool.main(['--models', TOPFORMER_SEG, '--out', str(tmp_path / 'x.md'), '--into',
                   str(no_markers)])
    assert not (tmp_path / 'x.md').exists()
