# Copyright (c) mmhybrid contributors. All rights reserved.
"""``python TOOL --help`` answers without importing torch, OpenMMLab, onnxruntime or mmhybrid.

Every tool parses its arguments first and imports the heavy libraries after, so that ``--help``
and usage errors take a fraction of a second instead of six. Checked deterministically (no
timing): each tool runs ``--help`` in a subprocess that records ``sys.modules`` at exit. What the
parsers need from the library lives in ``tools/_light_cli.py``; its repeated constants are
compared with the library's here.
"""
import argparse
import glob
import json
import os.path as osp
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOLS = sorted(
    osp.relpath(path, REPO)
    for path in glob.glob(osp.join(REPO, 'tools', '*.py')) +
    glob.glob(osp.join(REPO, 'tools', '*', '*.py'))
    if not osp.basename(path).startswith('_'))
HEAVY = ('torch', 'mmengine', 'mmcv', 'mmdet', 'mmseg', 'mmpretrain', 'onnxruntime', 'mmhybrid')

#: Runs the tool as ``python TOOL --help`` would (``__main__``, its folder first on sys.path)
#: and writes the names of the imported modules to the file named by the second argument.
WRAPPER = r'''
import json, os.path as osp, runpy, sys
tool, record = sys.argv[1], sys.argv[2]
sys.argv = [tool, '--help']
sys.path[0] = osp.dirname(osp.abspath(tool))
try:
    runpy.run_path(tool, run_name='__main__')
finally:
    with open(record, 'w') as f:
        json.dump(sorted(sys.modules), f)
'''


def test_every_tool_is_listed():
    assert len(TOOLS) >= 20
    assert 'tools/train.py' in TOOLS and 'tools/deployment/quantize.py' in TOOLS


@pytest.mark.parametrize('tool', TOOLS)
def test_help_imports_no_heavy_library(tool, tmp_path):
    record = tmp_path / 'modules.json'
    proc = subprocess.run([sys.executable, '-c', WRAPPER, tool, str(record)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith('usage: '), proc.stdout
    assert '--help' in proc.stdout
    modules = json.loads(record.read_text())
    imported = sorted(name for name in modules
                      if name in HEAVY or name.split('.')[0] in HEAVY)
    assert not imported, f'{tool} --help imported {imported[:10]}'


def test_repeated_constants_agree_with_the_library():
    sys.path.append(osp.join(REPO, 'tools'))
    import _light_cli as light

    import mmhybrid.deploy as deploy
    import mmhybrid.tasks as tasks
    from mmhybrid.deploy import data, quantize
    from mmhybrid.deploy import export as onnx_export
    from mmhybrid.models.backbones.trt_vit import TRTViT
    from mmhybrid.testing.tiny_datasets import DATASET_MAKERS
    from mmhybrid.utils.compile import COMPILE_MODES

    assert light.COMPILE_MODES == COMPILE_MODES
    assert light.COMPARE_MODES == deploy.MODES
    assert light.SPLITS == data.SPLITS
    assert light.QUANTIZE_OP_TYPES == quantize.DEFAULT_OP_TYPES
    assert light.BASELINE_NAMES == tuple(sorted(tasks.BASELINE_CONFIGS))
    assert light.TRT_VIT_ARCHS == tuple(sorted(TRTViT.arch_settings))
    assert light.TINY_DATASETS == tuple(sorted(DATASET_MAKERS))
    assert light.ONNX_RTOL == onnx_export.DEFAULT_RTOL


def test_lazy_config_options_parse_as_the_library_action():
    sys.path.append(osp.join(REPO, 'tools'))
    import _light_cli as light

    from mmhybrid.utils.cli import ConfigOptionsAction

    argv = ['--cfg-options', 'a=1', 'b=[1, 2]', 'c="/data/my sets"', '--cfg-options', 'd=x']
    parsed = []
    for action in (light.ConfigOptionsAction, ConfigOptionsAction):
        parser = argparse.ArgumentParser()
        parser.add_argument('--cfg-options', nargs='+', action=action)
        parsed.append(parser.parse_args(argv).cfg_options)
    assert parsed[0] == parsed[1] == {'a': 1, 'b': [1, 2], 'c': '/data/my sets', 'd': 'x'}
