# Copyright (c) mmhybrid contributors. All rights reserved.
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub

import mmhybrid  # noqa: F401  (importing it installs the allow-list)
from mmhybrid.utils import allow_mmengine_checkpoints


def _runner_like_checkpoint():
    """What MMEngine's runner pickles: weights, a message hub full of HistoryBuffers and numpy."""
    hub = MessageHub('test_checkpoint')
    for i in range(3):
        hub.update_scalar('train/loss', float(np.float64(1.0 / (i + 1))))
        hub.update_scalar('train/lr', np.float32(0.01))
    hub.update_info('iter', 3)
    return {
        'meta': {'epoch': 0, 'iter': 3, 'seed': np.int64(7), 'dataset_meta': {'classes': ('a',)}},
        'state_dict': {'w': torch.ones(2)},
        'message_hub': hub.state_dict(),
        'optimizer': {'state': {0: {'step': torch.tensor(3.0)}}, 'param_groups': [{'lr': 0.01}]},
        'history': np.arange(4, dtype=np.float32),
    }


def test_mmengine_runner_checkpoint_loads_with_weights_only(tmp_path):
    path = tmp_path / 'iter_3.pth'
    torch.save(_runner_like_checkpoint(), path)
    assert allow_mmengine_checkpoints()  # idempotent
    loaded = torch.load(path, weights_only=True)
    buffer = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    assert buffer.current() == pytest.approx(1 / 3)
    assert loaded['meta']['seed'] == 7
    np.testing.assert_array_equal(loaded['history'], np.arange(4, dtype=np.float32))


class _NotAllowListed:
    pass


def test_unknown_objects_are_still_refused(tmp_path):
    """Safe loading is not switched off: a type outside the allow-list still fails."""
    path = tmp_path / 'evil.pth'
    torch.save({'payload': _NotAllowListed()}, path)
    with pytest.raises(pickle.UnpicklingError, match='_NotAllowListed'):
        torch.load(path, weights_only=True)
