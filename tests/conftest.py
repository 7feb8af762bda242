# Copyright (c) mmhybrid contributors. All rights reserved.
import contextlib
import os.path as osp
import sys

import pytest
import torch

# Test helpers that are not part of the package (``smoke.py``: the config smoke-training harness;
# ``helpers.py``: load_tool, randomize_batchnorm_stats)
# are imported by name from this folder, whatever the directory pytest runs from.
TESTS_DIR = osp.dirname(osp.abspath(__file__))
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)

import helpers  # noqa: E402  (tests/helpers.py: load_tool, randomize_batchnorm_stats)

# mmhybrid.models mirrors its classes into mmdet/mmseg/mmpretrain on import; do it once up front
# so every test sees the same registries whatever the collection order.
import mmhybrid.models  # noqa: F401,E402


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: end-to-end runs (training, mim, DDP); '
                            'deselect with -m "not slow"')


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@contextlib.contextmanager
def _default_scopes_restored():
    """MMEngine's default scope is process-global: whatever sets one (``init_default_scope``,
    building a ``Runner``) silently redirects the registry look-ups of everything after it.
    Restore the scope instances, and so the current scope, to what they were."""
    from mmengine.registry import DefaultScope
    before = list(DefaultScope._instance_dict.items())
    try:
        yield
    finally:
        # Re-read the dict: ``DefaultScope.overwrite_default_scope`` replaces it with a copy.
        instances = DefaultScope._instance_dict
        instances.clear()
        instances.update(before)


@pytest.fixture(autouse=True, scope='module')
def _isolate_default_scope_per_module():
    """Scopes set by module-scoped fixtures (which run before the per-test restore takes its
    snapshot) end with their module, so no test file leaks a scope into the next."""
    with _default_scopes_restored():
        yield


@pytest.fixture(autouse=True)
def _isolate_default_scope():
    with _default_scopes_restored():
        yield


@pytest.fixture
def load_tool():
    """The function :func:`helpers.load_tool`: import a script under ``tools/`` as a module, e.g.
    ``load_tool('analysis_tools/benchmark.py')`` (the scripts are not a package)."""
    return helpers.load_tool


@pytest.fixture
def randomize_batchnorm():
    """The function :func:`helpers.randomize_batchnorm_stats`: random running statistics and
    affine parameters for every BatchNorm of a module (from the seeded torch RNG)."""
    return helpers.randomize_batchnorm_stats
