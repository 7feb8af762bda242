# Copyright (c) mmhybrid contributors. All rights reserved.
import pytest
import torch

# mmhybrid.models mirrors its classes into mmdet/mmseg/mmpretrain on import; do it once up front
# so every test sees the same registries whatever the collection order.
import mmhybrid.models  # noqa: F401,E402


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: end-to-end runs (training, mim, DDP); '
                            'deselect with -m "not slow"')
    torch.set_num_threads(max(1, torch.get_num_threads()))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
