# Copyright (c) mmhybrid contributors. All rights reserved.
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub

from mmhybrid.utils import allow_mmengine_checkpoint_types, allow_mmengine_checkpoints, checkpoint
from mmhybrid.utils.checkpoint import (
    history_buffer_pickling_patched,
    patch_history_buffer_pickling,
    restore_history_buffer_pickling,
    unsafe_load_hint,
)
from mmhybrid.utils.state_dict import CheckpointMismatchError, load_checkpoint_file


@pytest.fixture
def untouched():
    """MMEngine and torch as a process that never called the helpers has them, with the
    allow-list emptied. ``tests/conftest.py`` already undoes the pickling patch and mmhybrid's
    allowed types for every test and puts both back afterwards."""
    assert not history_buffer_pickling_patched()
    torch.serialization.clear_safe_globals()


@pytest.fixture
def allowed(untouched):
    """The state :func:`allow_mmengine_checkpoints` leaves (undone after the test)."""
    assert allow_mmengine_checkpoints()
    yield


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


def test_mmengine_runner_checkpoint_loads_with_weights_only(tmp_path, allowed):
    path = tmp_path / 'iter_3.pth'
    torch.save(_runner_like_checkpoint(), path)
    before = torch.serialization.get_safe_globals()
    assert allow_mmengine_checkpoints()  # idempotent: nothing added twice
    assert allow_mmengine_checkpoint_types()
    assert torch.serialization.get_safe_globals() == before
    loaded = torch.load(path, weights_only=True)
    buffer = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    assert buffer.current() == pytest.approx(1 / 3)
    assert loaded['meta']['seed'] == 7
    np.testing.assert_array_equal(loaded['history'], np.arange(4, dtype=np.float32))


class _NotAllowListed:
    pass


def test_unknown_objects_are_still_refused(tmp_path, allowed):
    """Safe loading is not switched off: a type outside the allow-list still fails."""
    path = tmp_path / 'evil.pth'
    torch.save({'payload': _NotAllowListed()}, path)
    with pytest.raises(pickle.UnpicklingError, match='_NotAllowListed'):
        torch.load(path, weights_only=True)


# A runner checkpoint written by a process without mmhybrid's runner set-up: MMEngine's own
# HistoryBuffer.__getstate__, as every plain MMEngine 0.10.7 run writes it.
_PLAIN_MMENGINE_SAVE = '''
import sys
import numpy as np
import torch
from mmengine.logging import MessageHub
hub = MessageHub('plain')
for i in range(3):
    hub.update_scalar('train/loss', 1.0 / (i + 1))
torch.save({'meta': {'iter': 3}, 'state_dict': {'w': torch.ones(2)},
            'message_hub': hub.state_dict()}, sys.argv[1])
assert 'mmhybrid' not in sys.modules
'''


@pytest.fixture(scope='module')
def plain_mmengine_checkpoint(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('plain') / 'iter_3.pth')
    subprocess.run([sys.executable, '-c', _PLAIN_MMENGINE_SAVE, path], check=True, timeout=300)
    return path


def test_allow_mmengine_checkpoints_patches_history_buffer_pickling_by_name(untouched):
    assert not history_buffer_pickling_patched()
    assert allow_mmengine_checkpoints()
    assert history_buffer_pickling_patched()
    assert HistoryBuffer.__getstate__ is checkpoint._history_buffer_getstate
    restore_history_buffer_pickling()
    try:
        assert not history_buffer_pickling_patched()
        assert 'statistics_methods' in HistoryBuffer().__getstate__()  # MMEngine's own
    finally:
        patch_history_buffer_pickling()
    assert history_buffer_pickling_patched()
    patch_history_buffer_pickling()  # idempotent: the original is kept, not our function
    assert checkpoint._original_getstate is not checkpoint._history_buffer_getstate


def test_readers_allow_the_types_but_leave_pickling_alone(tmp_path, untouched):
    """Reading a checkpoint needs only the allow-list; the pickling patch is for writers."""
    hub_checkpoint = _runner_like_checkpoint()
    patch_history_buffer_pickling()
    path = str(tmp_path / 'iter_3.pth')
    torch.save(hub_checkpoint, path)
    restore_history_buffer_pickling()
    assert HistoryBuffer not in torch.serialization.get_safe_globals()
    loaded = load_checkpoint_file(path)
    assert loaded['message_hub']['log_scalars']['train/loss'].current() == pytest.approx(1 / 3)
    assert HistoryBuffer in torch.serialization.get_safe_globals()
    assert not history_buffer_pickling_patched()


def test_the_hook_and_the_runner_set_up_apply_the_patch(untouched, monkeypatch):
    from mmengine.config import Config
    from mmengine.runner import Runner

    from mmhybrid.apis.runner_setup import build_runner
    from mmhybrid.engine import AtomicCheckpointHook

    AtomicCheckpointHook(interval=1)
    assert history_buffer_pickling_patched()
    assert HistoryBuffer in torch.serialization.get_safe_globals()

    restore_history_buffer_pickling()
    torch.serialization.clear_safe_globals()
    monkeypatch.setattr(Runner, 'from_cfg', classmethod(lambda cls, cfg: 'runner'))
    assert build_runner(Config(dict())) == 'runner'
    assert history_buffer_pickling_patched()
    assert HistoryBuffer in torch.serialization.get_safe_globals()


def test_custom_statistics_survive_the_patched_pickle(allowed):
    buffer = HistoryBuffer([1.0, 3.0], [1, 1])
    state = buffer.__getstate__()
    assert not set(state['statistics_methods']) & {'min', 'max', 'mean', 'current'}
    restored = pickle.loads(pickle.dumps(buffer))
    assert restored.mean() == 2.0 and restored.max() == 3.0


def test_plain_mmengine_checkpoint_needs_the_documented_flag(plain_mmengine_checkpoint, allowed):
    """Written without the patch: refused by safe loading with a message naming the flag,
    loaded with ``weights_only=False`` (trusted files only)."""
    with pytest.raises(pickle.UnpicklingError, match='getattr') as error:
        torch.load(plain_mmengine_checkpoint, weights_only=True)
    hint = unsafe_load_hint(error.value)
    assert 'weights_only=False' in hint and 'trust' in hint
    with pytest.raises(CheckpointMismatchError, match=r"without mmhybrid's runner set-up.*"
                       r'torch\.load\(path, weights_only=False\)'):
        load_checkpoint_file(plain_mmengine_checkpoint)
    loaded = torch.load(plain_mmengine_checkpoint, weights_only=False)
    assert loaded['message_hub']['log_scalars']['train/loss'].current() == pytest.approx(1 / 3)


def test_checkpoint_saved_with_the_patch_loads_safely(tmp_path, allowed):
    path = str(tmp_path / 'ours.pth')
    torch.save(_runner_like_checkpoint(), path)
    loaded = load_checkpoint_file(path)  # weights_only=True inside
    assert loaded['message_hub']['log_scalars']['train/loss'].current() == pytest.approx(1 / 3)
    assert unsafe_load_hint(RuntimeError('something else')) is None
