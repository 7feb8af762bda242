# Copyright (c) mmhybrid contributors. All rights reserved.
"""Smoke run of tools/analysis_tools/benchmark_trt_vit.py (no timing assertions)."""
import json

import pytest


def test_benchmark_reports_every_model_mode_and_ratio(tmp_path, capsys, load_tool):
    pytest.importorskip('mmpretrain')
    benchmark = load_tool('analysis_tools/benchmark_trt_vit.py')
    out = tmp_path / 'latency.json'
    rows = benchmark.main(['--archs', 'a', '--resolutions', '32x48', '--modes', 'eager', 'fused',
                           '--warmup', '0', '--repeats', '1', '--threads', '1',
                           '--out', str(out)])
    assert [(r['model'], r['mode']) for r in rows] == [
        ('ResNet-50', 'eager'), ('ResNet-50', 'fused'), ('TRT-ViT-A', 'eager'),
        ('TRT-ViT-A', 'fused')]
    assert all(r['resolution'] == '32x48' and r['ms'] > 0 for r in rows)
    assert all(r['rel_err'] <= 1e-4 for r in rows)  # folding checked against eager
    assert [r['params_m'] for r in rows if r['mode'] == 'eager'] == [23.51, 25.29]
    printed = capsys.readouterr().out
    assert 'ratio' in printed and 'TRT-ViT-A' in printed
    assert json.loads(out.read_text())['rows'] == rows


def test_benchmark_rejects_bad_resolution(load_tool):
    with pytest.raises(SystemExit, match='224x224'):
        load_tool('analysis_tools/benchmark_trt_vit.py').parse_resolution('224')
