# Copyright (c) mmhybrid contributors. All rights reserved.
"""End-to-end runs of tools/train.py, tools/test.py and tools/dist_train.sh (CPU, tiny data).

Each run trains TopFormer-T (the demo model) shrunk by :func:`make_smoke_config` in a fresh
process, exactly as a user would start it.
"""
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest
import torch
from helpers import read_scalars
from smoke import make_smoke_config

from mmhybrid.testing import make_ade20k
from mmhybrid.utils.state_dict import load_checkpoint_file

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'topformer', 'topformer_t_ade20k.py')
ENV = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def ade_root(tmp_path_factory):
    return make_ade20k(str(tmp_path_factory.mktemp('tiny')), num_train=4, num_val=2)


def write_config(path, ade_root, work_dir, max_iters, ckpt_interval, **extra):
    cfg = make_smoke_config(CONFIG, {'ade20k': ade_root}, str(work_dir), with_val=False)
    # Train for real: drop the smoke run's stop-after-one-step hook and set the schedule.
    cfg.custom_hooks = [h for h in cfg.custom_hooks if h['type'] != 'SmokeStopHook']
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=10**6)
    cfg.default_hooks['checkpoint'] = dict(
        type='CheckpointHook', by_epoch=False, interval=ckpt_interval)
    cfg.merge_from_dict(extra)
    cfg.dump(str(path))
    return str(path)


def train(config, *args, timeout=600):
    cmd = [sys.executable, osp.join(REPO, 'tools', 'train.py'), config, *args]
    proc = subprocess.run(cmd, cwd=REPO, env=ENV, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def test_kill_and_resume_continues_iteration_lr_and_optimizer(tmp_path, ade_root):
    work_dir = tmp_path / 'run'
    config = write_config(tmp_path / 'cfg.py', ade_root, work_dir, max_iters=1000,
                          ckpt_interval=2)
    # Run 1: kill -9 the training once a checkpoint is complete (last_checkpoint is written
    # after the file), as a pre-empted cluster job would be.
    proc = subprocess.Popen([sys.executable, 'tools/train.py', config], cwd=REPO, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = work_dir / 'last_checkpoint'
    deadline = time.time() + 300
    while not (last.exists() and 'iter_4.pth' in last.read_text()):
        assert proc.poll() is None, 'training exited before writing iter_4.pth'
        assert time.time() < deadline, 'no iter_4.pth after 300 s'
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    resumed_from = last.read_text().strip()
    start_iter = int(osp.basename(resumed_from)[len('iter_'):-len('.pth')])
    stopped = load_checkpoint_file(resumed_from)  # safe (weights_only) loading
    assert stopped['meta']['iter'] == start_iter

    # Run 2: resume from the work dir and train four more iterations (a changed schedule, so
    # --resume-with-changes); it takes over the lock the killed run left.
    end_iter = start_iter + 4
    proc = train(config, '--resume', '--resume-with-changes', '--cfg-options',
                 f'train_cfg.max_iters={end_iter}')
    assert f'train_cfg.max_iters: 1000 -> {end_iter}' in proc.stdout
    assert 'taking over the lock of a run that ended without releasing it' in proc.stdout
    final = load_checkpoint_file(str(work_dir / f'iter_{end_iter}.pth'))
    assert final['meta']['iter'] == end_iter
    # AdamW counts its steps per parameter: it went on from the stopped state, not from zero.
    steps = {float(s['step']) for s in final['optimizer']['state'].values()}
    assert steps == {float(end_iter)}, steps
    # ... and its moments kept moving (parameters that never get a gradient keep zeros).
    moving = [key for key, state in stopped['optimizer']['state'].items()
              if state['exp_avg'].abs().sum() > 0]
    assert moving
    for key in moving:
        assert not torch.equal(stopped['optimizer']['state'][key]['exp_avg'],
                               final['optimizer']['state'][key]['exp_avg'])
    assert osp.isfile(resumed_from), 'resuming must not delete the checkpoint it came from'

    resumed = {r['iter']: r for r in read_scalars(work_dir)}
    assert min(it for it in resumed if it > start_iter) == start_iter + 1

    # Reference: the same schedule without interruption; learning rates must agree per iter.
    ref_dir = tmp_path / 'ref'
    ref_config = write_config(tmp_path / 'ref.py', ade_root, ref_dir, max_iters=end_iter,
                              ckpt_interval=end_iter)
    train(ref_config)
    reference = {r['iter']: r for r in read_scalars(ref_dir)}
    for it in range(start_iter + 1, end_iter + 1):
        assert resumed[it]['lr'] == pytest.approx(reference[it]['lr'], rel=1e-6), it


def test_distributed_training_two_cpu_processes(tmp_path, ade_root):
    work_dir = tmp_path / 'ddp'
    config = write_config(tmp_path / 'ddp.py', ade_root, work_dir, max_iters=3, ckpt_interval=3)
    port = str(29500 + os.getpid() % 1000)
    proc = subprocess.run(
        ['bash', 'tools/dist_train.sh', config, '2'], cwd=REPO,
        env=dict(ENV, PYTHON=sys.executable, PORT=port), capture_output=True, text=True,
        timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert 'Distributed training: True' in output
    assert (work_dir / 'iter_3.pth').exists()
    ckpt = load_checkpoint_file(str(work_dir / 'iter_3.pth'))
    # DDP wraps the model; its checkpoint must still hold plain (unprefixed) keys.
    assert not any(k.startswith('module.') for k in ckpt['state_dict'])
    logs = [r for r in read_scalars(work_dir)]
    assert [r['iter'] for r in logs if 'loss' in r] == [1, 2, 3]


def test_test_tool_evaluates_and_writes_visualisations(tmp_path, ade_root):
    work_dir = tmp_path / 'run'
    config = write_config(tmp_path / 'cfg.py', ade_root, work_dir, max_iters=2, ckpt_interval=2)
    train(config)
    show_dir = tmp_path / 'vis'
    proc = subprocess.run(
        [sys.executable, 'tools/test.py', config, str(work_dir / 'iter_2.pth'),
         '--show-dir', str(show_dir), '--work-dir', str(tmp_path / 'test')],
        cwd=REPO, env=ENV, capture_output=True, text=True, timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert 'mIoU' in output
    pngs = [f for _, _, files in os.walk(show_dir) for f in files if f.endswith('.png')]
    assert len(pngs) == 1, pngs  # the smoke config evaluates one tiny validation image


def test_test_tool_reports_a_missing_checkpoint(tmp_path, ade_root):
    config = write_config(tmp_path / 'cfg.py', ade_root, tmp_path / 'w', max_iters=1,
                          ckpt_interval=1)
    proc = subprocess.run(
        [sys.executable, 'tools/test.py', config, str(tmp_path / 'nope.pth')], cwd=REPO,
        env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert 'nope.pth' in proc.stderr and 'does not exist' in proc.stderr
