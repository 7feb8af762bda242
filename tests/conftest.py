# Copyright (c) mmhybrid contributors. All rights reserved.
import contextlib
import os
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

# Under pytest-xdist (`make test` runs `-n 2`) each worker gets its share of the cores, and the
# tools a test starts as subprocesses inherit it through OMP_NUM_THREADS / MKL_NUM_THREADS:
# OpenMP threads beyond the free cores spin against the other worker (2026-12-03, 2 cores, the
# first-hour TopFormer-T training beside one busy process: 42 s with 1 thread, 46 s with 2;
# beside two: 66-80 s and 88-95 s).
if 'PYTEST_XDIST_WORKER_COUNT' in os.environ:
    _threads = max(1, (os.cpu_count() or 1) // int(os.environ['PYTEST_XDIST_WORKER_COUNT']))
    torch.set_num_threads(_threads)
    os.environ['OMP_NUM_THREADS'] = os.environ['MKL_NUM_THREADS'] = str(_threads)


@pytest.fixture(autouse=True, scope='session')
def _parse_each_task_library_metafile_once():
    """MMEngine 0.10.7 parses all ~200 metafiles of mmdet / mmseg / mmpretrain for every
    ``pkg::`` base of every config it loads (``mmengine.config.utils._get_cfg_metainfo``), about
    a second per config; the suite loads configs over a thousand times, so remember each answer
    (the installed metafiles do not change during a run). Only this test process is affected:
    the tools the tests start as subprocesses load configs unchanged."""
    import copy
    import functools

    import mmengine.config.utils as config_utils
    original = config_utils._get_cfg_metainfo

    @functools.lru_cache(maxsize=None)
    def answer(package_path, cfg_path):
        try:
            return original(package_path, cfg_path), None
        except ValueError as exc:  # not a model config: MMEngine then takes the base path
            return None, exc.args

    def remembered(package_path, cfg_path):
        value, error = answer(package_path, cfg_path)
        if error is not None:
            raise ValueError(*error)
        return copy.deepcopy(value)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(config_utils, '_get_cfg_metainfo', remembered)
        yield


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


@pytest.fixture(autouse=True)
def _checkpoint_loading_as_in_a_fresh_process():
    """torch's safe-globals allow-list and MMEngine's ``HistoryBuffer.__getstate__`` are
    process-global, and mmhybrid changes both where runner checkpoints are read or written
    (``mmhybrid/utils/checkpoint.py``). Each test starts without mmhybrid's changes, as a fresh
    process (so a test that loads a runner checkpoint without mmhybrid's readers fails in any
    order, not only after another test allowed the types), and both are put back afterwards."""
    from mmhybrid.utils.checkpoint import (
        _mmengine_checkpoint_globals,
        history_buffer_pickling_patched,
        patch_history_buffer_pickling,
        restore_history_buffer_pickling,
    )
    serialization = torch.serialization
    allowed, patched = serialization.get_safe_globals(), history_buffer_pickling_patched()
    mmhybrid_types = set(_mmengine_checkpoint_globals())
    serialization.clear_safe_globals()
    serialization.add_safe_globals([g for g in allowed if g not in mmhybrid_types])
    restore_history_buffer_pickling()
    try:
        yield
    finally:
        serialization.clear_safe_globals()
        serialization.add_safe_globals(allowed)
        if patched:
            patch_history_buffer_pickling()
        else:
            restore_history_buffer_pickling()


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
