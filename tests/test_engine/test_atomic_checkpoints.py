# Copyright (c) mmhybrid contributors. All rights reserved.
"""Training killed (SIGKILL) at every moment of a checkpoint save always resumes.

A chain of real ``tools/train.py`` runs on a tiny ADE20K set, each its own process: each run
resumes the previous one and is itself killed at another point of a save
(``kill_during_save.py``), until a last run finishes. After every kill the work dir must hold
an intact checkpoint that ``--resume`` continues from, and the chain must reach the planned
final iteration.
"""
import multiprocessing
import os
import os.path as osp
import re
import signal

import kill_during_save
import pytest
from smoke import write_training_config

from mmhybrid.engine import find_resumable_checkpoint
from mmhybrid.testing import make_ade20k
from mmhybrid.utils.checkpoint import checkpoint_problem
from mmhybrid.utils.state_dict import load_checkpoint_file

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'topformer', 'topformer_t_ade20k.py')
ALL_POINTS = kill_during_save.POINTS
#: What ``tools/train.py`` imports; the fork server imports it once and every run forks from it.
PRELOAD = ['kill_during_save', 'mmhybrid.models', 'mmhybrid.apis', 'mmengine.runner']


@pytest.fixture(scope='module')
def ade_root(tmp_path_factory):
    return make_ade20k(str(tmp_path_factory.mktemp('tiny')), num_train=2, num_val=1)


@pytest.fixture(scope='module')
def fork_server():
    """multiprocessing's fork server (a fresh interpreter, not this test process) with the
    libraries imported: each run is a new process forked from it, so it starts as a fresh
    ``python tools/train.py`` would, without paying the ~10 s of imports eleven times."""
    context = multiprocessing.get_context('forkserver')
    context.set_forkserver_preload(PRELOAD)
    return context


def write_config(path, ade_root, work_dir, max_iters, **checkpoint):
    return write_training_config(
        path, CONFIG, ade_root, work_dir, max_iters, checkpoint_interval=1,
        **{f'default_hooks.checkpoint.{k}': v for k, v in checkpoint.items()},
        **{'default_hooks.logger': dict(type='LoggerHook', interval=1)})


def run_train(fork_server, log, config, *args, kill_point=None, kill_at=2):
    """One ``tools/train.py`` process; killed at ``kill_point`` of its ``kill_at``-th save if
    given. Returns its exit code (``-SIGKILL`` when killed) and its output."""
    process = fork_server.Process(target=kill_during_save.train_in_forked_child,
                                  args=([config, *args], kill_point, kill_at, str(log)))
    process.start()
    process.join(600)
    if process.is_alive():
        process.kill()
        process.join()
        pytest.fail(f'tools/train.py {config} {args} ran for more than 600 s')
    with open(log) as file:
        return process.exitcode, file.read()


def saved_iter(path):
    return int(re.search(r'iter_(\d+)\.pth', path).group(1))


@pytest.mark.slow
@pytest.mark.parametrize('max_keep_ckpts,points', [
    (1, ALL_POINTS),
    (-1, ('half_written', 'before_rename', 'after_rename')),
])
def test_resume_after_kills_during_saves(tmp_path, ade_root, fork_server, max_keep_ckpts,
                                         points):
    work_dir = tmp_path / 'run'
    max_iters = 2 * len(points) + 2
    config = write_config(tmp_path / 'cfg.py', ade_root, work_dir, max_iters,
                          max_keep_ckpts=max_keep_ckpts)
    newest_complete = 0
    for number, point in enumerate(points):
        returncode, output = run_train(fork_server, tmp_path / f'{number}.log', config,
                                       *(['--resume'] if number else []), kill_point=point)
        assert returncode == -signal.SIGKILL, f'{point}: not killed\n{output[-3000:]}'
        if number:
            match = re.search(r'--resume: (.*)', output)
            assert match and f'iter_{newest_complete}.pth' in match.group(1), (point, output)
        # Each run completes its first save and dies during its second one; only once the
        # new last_checkpoint is in place (before_prune) does the second save count.
        expected = newest_complete + (2 if point == 'before_prune' else 1)
        found = find_resumable_checkpoint(str(work_dir))
        assert found.checkpoint is not None, (point, found.message)
        assert checkpoint_problem(found.checkpoint) is None
        assert saved_iter(found.checkpoint) == expected, (point, found.message)
        stopped = load_checkpoint_file(found.checkpoint)
        assert stopped['meta']['iter'] == expected
        leftovers = [name for name in os.listdir(work_dir) if name.endswith('.pth')
                     and not name.startswith('.tmp-')
                     and checkpoint_problem(str(work_dir / name))]
        assert not leftovers, f'{point}: damaged files under final names: {leftovers}'
        newest_complete = expected

    returncode, output = run_train(fork_server, tmp_path / 'last.log', config, '--resume')
    assert returncode == 0, output[-3000:]
    assert f'iter_{newest_complete}.pth' in re.search(r'--resume: (.*)', output).group(1)
    final = work_dir / f'iter_{max_iters}.pth'
    assert load_checkpoint_file(str(final))['meta']['iter'] == max_iters
    assert (work_dir / 'last_checkpoint').read_text().strip().endswith(final.name)
    kept = sorted(n for n in os.listdir(work_dir) if n.endswith('.pth'))
    if max_keep_ckpts == 1:
        assert final.name in kept and len(kept) <= 2, kept  # at most one pruned-late leftover
    assert not [n for n in os.listdir(work_dir) if n.startswith('.tmp-')]
