# Copyright (c) mmhybrid contributors. All rights reserved.
"""One run per work dir; the clean-up of killed saves spares live runs; a best checkpoint is
replaced only once the new one is complete.

Before: two trainings started into one ``--work-dir`` both ran (the first run's checkpoints
then held the second run's weights), and a kill between MMEngine deleting the previous best
checkpoint and writing the new one left no best checkpoint.
"""
import json
import os
import os.path as osp
import subprocess
import sys
import textwrap
import time

import pytest
import torch
from mmengine.logging import MessageHub, MMLogger
from smoke import make_smoke_config

from mmhybrid.engine import AtomicCheckpointHook, WorkDirLock, WorkDirLockedError
from mmhybrid.engine.work_dir_lock import LOCK_NAME
from mmhybrid.testing import make_ade20k

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'topformer', 'topformer_t_ade20k.py')


@pytest.fixture
def holder(tmp_path):
    """Another process holding the work dir's lock (as a live training run does)."""
    work_dir = tmp_path / 'work'
    script = textwrap.dedent(f'''
        import sys, time
        sys.path.insert(0, {REPO!r})
        from mmhybrid.engine.work_dir_lock import WorkDirLock
        with WorkDirLock({str(work_dir)!r}, rank=0):
            print('locked', flush=True)
            time.sleep(120)
    ''')
    proc = subprocess.Popen([sys.executable, '-c', script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == 'locked'
    yield work_dir, proc
    proc.kill()
    proc.wait()


def test_a_second_run_is_refused_naming_the_live_one(holder):
    work_dir, proc = holder
    with pytest.raises(WorkDirLockedError) as error:
        WorkDirLock(str(work_dir), rank=0).acquire()
    message = str(error.value)
    assert f'process {proc.pid}' in message and str(work_dir) in message
    assert '--work-dir' in message


def test_train_tool_refuses_a_second_run_before_building_anything(holder, tmp_path,
                                                                   load_tool):
    work_dir, proc = holder
    cfg = make_smoke_config(CONFIG, {'ade20k': make_ade20k(str(tmp_path / 'ade'), 2, 1)},
                            str(work_dir), with_val=False)
    cfg.dump(str(tmp_path / 'cfg.py'))
    with pytest.raises(WorkDirLockedError, match=f'process {proc.pid}'):
        load_tool('train.py').main([str(tmp_path / 'cfg.py')])
    assert sorted(os.listdir(work_dir)) == [LOCK_NAME]


def test_other_ranks_of_one_distributed_run_take_no_lock(holder):
    work_dir, _ = holder
    with WorkDirLock(str(work_dir), rank=1) as lock:
        assert lock.message is None


def test_the_lock_of_a_killed_run_is_taken_over_with_a_message(holder):
    work_dir, proc = holder
    proc.kill()
    proc.wait()
    with WorkDirLock(str(work_dir), rank=0) as lock:
        assert f'process {proc.pid}' in lock.message and 'no longer running' in lock.message
        owner = json.loads(open(work_dir / LOCK_NAME).read())
        assert owner['pid'] == os.getpid()
    # Released cleanly: the next run finds nothing to take over.
    with WorkDirLock(str(work_dir), rank=0) as lock:
        assert lock.message is None


# ---- AtomicCheckpointHook: clean-up and best checkpoints ----------------------------------


class FakeRunner:
    """What ``CheckpointHook``'s save paths read of a runner; ``save_checkpoint`` writes a
    small file, or fails like a kill while writing when ``fail`` is set."""

    def __init__(self, work_dir):
        self.work_dir = str(work_dir)
        self.model = torch.nn.Linear(2, 2)
        self.epoch, self.iter = 0, 0
        self.message_hub = MessageHub.get_instance(f'test_best_{time.time()}')
        self.logger = MMLogger.get_instance('test_work_dir_lock')
        self.fail = False

    def save_checkpoint(self, out_dir, filename, *args, **kwargs):
        if self.fail:
            raise KeyboardInterrupt('killed while writing the new best checkpoint')
        torch.save(dict(state_dict=self.model.state_dict()), osp.join(out_dir, filename))


def best_hook(runner):
    hook = AtomicCheckpointHook(interval=1000, by_epoch=False, save_best='mIoU')
    hook.before_train(runner)
    return hook


def best_files(folder):
    return sorted(name for name in os.listdir(folder) if name.startswith('best_'))


def test_previous_best_survives_a_kill_while_the_new_best_is_written(tmp_path):
    runner = FakeRunner(tmp_path)
    hook = best_hook(runner)
    runner.iter = 10
    hook._save_best_checkpoint(runner, dict(mIoU=30.0))
    assert best_files(tmp_path) == ['best_mIoU_iter_10.pth']
    runner.iter, runner.fail = 20, True
    with pytest.raises(KeyboardInterrupt):
        hook._save_best_checkpoint(runner, dict(mIoU=40.0))
    assert best_files(tmp_path) == ['best_mIoU_iter_10.pth']
    # The resumed run knows the best checkpoint from its last regular checkpoint.
    resumed = FakeRunner(tmp_path)
    resumed.message_hub.update_info('best_ckpt', str(tmp_path / 'best_mIoU_iter_10.pth'))
    resumed.message_hub.update_info('best_score', 30.0)
    hook = best_hook(resumed)
    resumed.iter = 30
    hook._save_best_checkpoint(resumed, dict(mIoU=50.0))
    assert best_files(tmp_path) == ['best_mIoU_iter_30.pth']


def test_stale_temporaries_of_dead_writers_only_are_removed(tmp_path):
    live = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
    dead = subprocess.Popen([sys.executable, '-c', 'pass'])
    dead.wait()
    try:
        names = [f'.tmp-{live.pid}-abcd1234-iter_4.pth.part',
                 f'.tmp-{dead.pid}-abcd1234-iter_2.pth.part',
                 f'.tmp-{dead.pid}-abcd1234-last_checkpoint.part',
                 f'.tmp-{dead.pid}-abcd1234-notes.txt.part']
        for name in names:
            (tmp_path / name).write_bytes(b'partial')
        runner = FakeRunner(tmp_path)
        AtomicCheckpointHook(interval=1, by_epoch=False).before_train(runner)
        assert sorted(os.listdir(tmp_path)) == sorted([names[0], names[3]])
    finally:
        live.kill()
        live.wait()
