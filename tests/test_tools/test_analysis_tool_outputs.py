# Copyright (c) mmhybrid contributors. All rights reserved.
"""The analysis tools' output files: an existing one is refused before any measurement unless
``--force``, and the results are written atomically (no temporary file left behind)."""
import json
import os

import pytest

from mmhybrid.utils.fileio import TEMP_PREFIX


def temporary_files(folder):
    return [name for name in os.listdir(folder) if name.startswith(TEMP_PREFIX)]


def _no_measurement(*args, **kwargs):
    raise AssertionError('the output must be checked before measuring')


def test_benchmark_out_needs_force(load_tool, tmp_path, monkeypatch):
    benchmark = load_tool('analysis_tools/benchmark.py')
    out = tmp_path / 'latency.json'
    out.write_text('earlier results')
    monkeypatch.setattr(benchmark, 'run_benchmark', _no_measurement)
    with pytest.raises(SystemExit, match='--force'):
        benchmark.main(['some_config.py', '--out', str(out)])
    assert out.read_text() == 'earlier results'

    monkeypatch.setattr(benchmark, 'run_benchmark', lambda args: dict(results=[]))
    monkeypatch.setattr(benchmark, 'format_results', lambda info: 'table')
    benchmark.main(['some_config.py', '--out', str(out), '--force'])
    assert json.loads(out.read_text()) == dict(results=[])
    assert temporary_files(tmp_path) == []


def test_benchmark_trt_vit_out_needs_force(load_tool, tmp_path, monkeypatch):
    benchmark = load_tool('analysis_tools/benchmark_trt_vit.py')
    out = tmp_path / 'trt_vit.json'
    out.write_text('earlier results')
    monkeypatch.setattr(benchmark, 'set_num_threads', _no_measurement)
    with pytest.raises(SystemExit, match='--force'):
        benchmark.main(['--out', str(out)])
    assert out.read_text() == 'earlier results'


@pytest.mark.parametrize('existing', ['tables.md', 'tables.json', 'tables_latency_vs_size.png',
                                      'tables_accuracy_vs_latency.png'])
def test_reproduce_tables_refuses_any_existing_output(load_tool, tmp_path, monkeypatch,
                                                      existing):
    tool = load_tool('analysis_tools/reproduce_tables.py')
    (tmp_path / existing).write_text('keep me')
    monkeypatch.setattr(tool, 'set_num_threads', _no_measurement)
    with pytest.raises(SystemExit, match=f'{existing} already exists; pass --force'):
        tool.main(['--out', str(tmp_path / 'tables.md')])
    assert (tmp_path / existing).read_text() == 'keep me'
    with pytest.raises(AssertionError, match='checked before measuring'):  # --force: goes on
        tool.main(['--out', str(tmp_path / 'tables.md'), '--force'])


def test_reproduce_tables_out_must_not_be_its_own_json(load_tool, tmp_path, monkeypatch):
    tool = load_tool('analysis_tools/reproduce_tables.py')
    monkeypatch.setattr(tool, 'set_num_threads', _no_measurement)
    with pytest.raises(SystemExit, match='overwritten by the JSON'):
        tool.main(['--out', str(tmp_path / 'tables.json')])
