# Copyright (c) mmhybrid contributors. All rights reserved.
"""Plain helpers shared by the tests (not fixtures, so they also work at import time).

``tests/conftest.py`` puts ``tests/`` on ``sys.path``, so tests write
``from helpers import load_tool``; inside a test the fixtures of the same names
(``load_tool``, ``randomize_batchnorm``, defined in ``tests/conftest.py``) return these functions.

* :func:`load_tool`: import a script under ``tools/`` as a module (the scripts are no package);
  :func:`load_script` does the same for any script of the repository (``demo/``).
* :func:`randomize_batchnorm_stats`: random running statistics and affine parameters for every
  BatchNorm, so that conv+BN folding, ``norm_eval`` and batch-invariance tests see non-trivial
  BNs.
* :func:`read_scalars`: the per-iteration records (``iter``, ``lr``, ``loss``...) a training run's
  ``LocalVisBackend`` wrote.
* ``TOPFORMER_T_CUT``: the arch keys that cut TopFormer-T down for the ``torch.compile`` tests.
"""
import importlib.util
import json
import os
import os.path as osp
from types import ModuleType

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

#: TopFormer-T's arch keys cut to its four stride-2 rows (the taps) and one transformer block;
#: every block type stays (``dict(TopFormer.parse_arch('tiny'), **TOPFORMER_T_CUT)``). Cold
#: inductor compile of a training iteration 186 s instead of 255 s; dynamo's trace (``explain``)
#: 11 s instead of 20 s (2026-12-03, 2 cores).
TOPFORMER_T_CUT = dict(
    layer_cfgs=[[3, 1, 16, 1], [3, 4, 16, 2], [5, 3, 32, 2], [3, 3, 64, 2], [5, 6, 96, 2]],
    tap_indices=[1, 2, 3, 4], depth=1)


def load_script(relative_path: str) -> ModuleType:
    """Import the script ``<repository>/<relative_path>`` as a module, e.g.
    ``load_script('demo/image_demo.py')``; each call executes the script afresh."""
    path = osp.join(ROOT, relative_path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'no script {path}')
    name = osp.splitext(osp.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_tool(relative_path: str) -> ModuleType:
    """Import ``tools/<relative_path>`` as a module, e.g.
    ``load_tool('analysis_tools/benchmark.py')`` (the scripts are not a package)."""
    return load_script(osp.join('tools', relative_path))


@torch.no_grad()
def randomize_batchnorm_stats(module: nn.Module, mean_range: float = 0.5,
                              var_range: tuple = (0.5, 2.0), weight_range: tuple = (0.5, 1.5),
                              bias_range: float = 0.5) -> nn.Module:
    """Random running statistics and affine parameters for every BatchNorm in ``module``
    (``running_mean`` in ``±mean_range``, ``running_var`` in ``var_range``, so positive, and,
    where affine, ``weight`` in ``weight_range`` and ``bias`` in ``±bias_range``).

    Uses the torch RNG (seeded per test by ``tests/conftest.py``). Pass ``weight_range=None``
    to keep the affine parameters. Returns ``module``.
    """
    for m in module.modules():
        if isinstance(m, _BatchNorm):
            if m.running_mean is not None:
                m.running_mean.uniform_(-mean_range, mean_range)
                m.running_var.uniform_(*var_range)
            if m.affine and weight_range is not None:
                m.weight.uniform_(*weight_range)
                m.bias.uniform_(-bias_range, bias_range)
    return module


def read_scalars(work_dir) -> list:
    """Per-iteration ``{'iter', 'lr', 'loss', ...}`` records that MMEngine's ``LocalVisBackend``
    wrote under ``work_dir`` (``<timestamp>/vis_data/scalars.json``), sorted by iteration;
    validation records (``{'mIoU', ..., 'step'}``) are sorted by their ``step``."""
    records = []
    for root, _, files in os.walk(work_dir):
        if 'scalars.json' in files:
            with open(osp.join(root, 'scalars.json')) as f:
                records += [json.loads(line) for line in f if line.strip()]
    return sorted(records, key=lambda r: r.get('iter', r.get('step', 0)))
