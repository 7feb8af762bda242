# Copyright (c) mmhybrid contributors. All rights reserved.
"""Runs of tools/analysis_tools/benchmark_hatnet.py (no timing assertions)."""
import os.path as osp

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_speed_reports_eager_and_onnxruntime_with_parity(load_tool):
    result = load_tool('analysis_tools/benchmark_hatnet.py').main(
        ['speed', '--model', 'transcnn', '--arch', 'tiny', '--shape', '64', '48', '--iters', '1',
         '--warmup', '0'])
    assert result['model'] == 'transcnn-tiny' and result['shape'] == [64, 48]
    assert result['eager_ms'] > 0 and result['onnxruntime_ms'] > 0
    assert result['speedup'] == pytest.approx(result['eager_ms'] / result['onnxruntime_ms'],
                                              rel=0.01)
    assert result['max_rel_error'] <= 1e-4  # the ONNX model was checked against eager


@pytest.mark.slow
def test_memory_compares_training_steps_with_and_without_checkpointing(capsys, load_tool):
    config = osp.join(ROOT, 'configs', 'hatnet', 'fpn_hatnet-tiny_4xb4-80k_ade20k-512x512.py')
    # The segmentor's data preprocessor pads to its 512x512 crop, so activations dominate.
    benchmark = load_tool('analysis_tools/benchmark_hatnet.py')
    results = benchmark.main(['memory', config, '--shape', '64', '64'])
    assert [r['with_cp'] for r in results] == [False, True]
    assert all(r['config'] == osp.basename(config) and r['batch'] == 1 for r in results)
    # Checkpointing the H-MHSA blocks must lower the peak (about 2x here).
    assert 0 < results[1]['peak_mib_per_image'] < results[0]['peak_mib_per_image']
    assert 'with_cp saves' in capsys.readouterr().out
