# Copyright (c) mmhybrid contributors. All rights reserved.
import importlib.util
import os.path as osp
import sys

import pytest
import torch

# Test helpers that are not part of the package (``smoke.py``: the config smoke-training harness)
# are imported by name from this folder, whatever the directory pytest runs from.
TESTS_DIR = osp.dirname(osp.abspath(__file__))
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)

# mmhybrid.models mirrors its classes into mmdet/mmseg/mmpretrain on import; do it once up front
# so every test sees the same registries whatever the collection order.
import mmhybrid.models  # noqa: F401,E402


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: end-to-end runs (training, mim, DDP); '
                            'deselect with -m "not slow"')


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _isolate_default_scope():
    """MMEngine's default scope is process-global: a test that sets one (``init_default_scope``,
    building a ``Runner``) would silently redirect the registry look-ups of the tests after it.
    Restore the scope instances to what they were before each test."""
    from mmengine.registry import DefaultScope
    instances = DefaultScope._instance_dict
    before = list(instances)
    yield
    for name in list(instances):
        if name not in before:
            del instances[name]
    for name in before:
        instances.move_to_end(name)


@pytest.fixture
def load_tool():
    """Import a script under ``tools/`` as a module, e.g.
    ``load_tool('analysis_tools/benchmark.py')`` (the scripts are not a package)."""

    def load(relative_path: str):
        path = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'tools', relative_path)
        name = osp.splitext(osp.basename(path))[0]
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
