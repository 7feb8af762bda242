# Copyright (c) mmhybrid contributors. All rights reserved.
"""Checkpoints that survive a kill at any moment.

MMEngine 0.10.7's ``CheckpointHook`` writes ``iter_N.pth`` in place (a kill leaves a truncated
file under the final name) and, with ``max_keep_ckpts``, deletes the oldest checkpoint *before*
the new one is written, while ``last_checkpoint`` still names the deleted file. A ``kill -9`` at
the wrong moment with ``max_keep_ckpts=1`` therefore leaves no loadable checkpoint at all.

:class:`AtomicCheckpointHook` keeps every option of ``CheckpointHook`` and changes the order:

1. the checkpoint is written to a hidden temporary name in the same folder, flushed to disk
   (``fsync``) and renamed to ``iter_N.pth`` (:class:`AtomicLocalBackend`; a rename is atomic);
2. ``last_checkpoint`` is replaced the same way;
3. only then are checkpoints beyond ``max_keep_ckpts`` removed.

At every instant the work dir holds an intact checkpoint that ``last_checkpoint`` names (or
that :func:`mmhybrid.engine.find_resumable_checkpoint` finds). Likewise a new best checkpoint
(``save_best``) is written before the previous one is removed. A model whose weights hold NaN
or inf is never saved (:class:`mmhybrid.engine.DivergenceError`), and the clean-up of
temporaries left by killed saves spares those of processes still running. A Ctrl-C during a
save ends the run as a ``KeyboardInterrupt`` (MMEngine reports it as a ``SyntaxError`` about
formatting the config; :func:`mmhybrid.utils.config.interrupts_stay_interrupts`).

``tools/train.py`` switches it on for every run it starts (``mim train`` and
``tools/dist_train.sh`` go through that script); a config used with another launcher selects
it with
``default_hooks = dict(checkpoint=dict(type='mmhybrid.AtomicCheckpointHook', ...))``.

Saves to remote storage (``backend_args`` naming another backend) keep that backend and its
own guarantees; only the ordering of step 3 applies there.
"""
import contextlib
import os
import os.path as osp
from typing import Iterator, List, Optional

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend, register_backend
from mmengine.hooks import CheckpointHook

from mmhybrid.registry import HOOKS
from mmhybrid.utils.checkpoint import allow_mmengine_checkpoints
from mmhybrid.utils.config import interrupts_stay_interrupts
from mmhybrid.utils.fileio import TEMP_PREFIX, TEMP_SUFFIX, atomic_write_bytes
from mmhybrid.utils.state_dict import describe_non_finite
from .divergence_guard import DivergenceError, non_finite_model_tensors

#: Name under which :class:`AtomicLocalBackend` is registered with MMEngine's file I/O.
ATOMIC_BACKEND = 'mmhybrid_atomic_local'


class AtomicLocalBackend(LocalBackend):
    """MMEngine's local file backend whose writes replace the file atomically."""

    def put(self, obj: bytes, filepath) -> None:
        atomic_write_bytes(obj, filepath)

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        atomic_write_bytes(obj.encode(encoding), filepath)


register_backend(ATOMIC_BACKEND, AtomicLocalBackend, force=True)


def _writer_is_alive(temporary: str) -> bool:
    """Whether the process that named the temporary file ``.tmp-<pid>-...`` still runs."""
    pid = temporary[len(TEMP_PREFIX):].split('-', 1)[0]
    if not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


@contextlib.contextmanager
def _removals_deferred(backend) -> Iterator[List[str]]:
    """Collect the paths ``backend.remove`` is called with inside the block instead of
    removing them; the caller removes them once it is safe."""
    removals: List[str] = []
    backend.remove = removals.append  # shadows the method on this instance only
    try:
        yield removals
    finally:
        del backend.remove


def check_weights_before_saving(runner, filename: str) -> None:
    """Refuse to write a checkpoint of a model whose weights are NaN or infinite."""
    bad = non_finite_model_tensors(runner.model)
    if bad:
        total = sum(1 for _ in runner.model.state_dict())
        raise DivergenceError(
            f'Not saving {filename} at iteration {runner.iter + 1}: the model\'s weights hold '
            f'NaN or inf in {describe_non_finite(bad, total)} (training diverged). The last '
            f'checkpoint of this run is {runner.message_hub.runtime_info.get("last_ckpt")}.')


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` that writes atomically and prunes only after a complete save.

    Accepts every argument of :class:`mmengine.hooks.CheckpointHook`. Without ``backend_args``
    (local work dirs) it writes through :class:`AtomicLocalBackend`. Building it calls
    :func:`~mmhybrid.utils.checkpoint.allow_mmengine_checkpoints` (before the runner resumes
    or saves anything): its checkpoints hold the message hub's ``HistoryBuffer`` objects and load
    with ``torch.load(path, weights_only=True)``.
    """

    def __init__(self, *args, backend_args: Optional[dict] = None, **kwargs):
        allow_mmengine_checkpoints()
        if backend_args is None and kwargs.get('file_client_args') is None:
            backend_args = dict(backend=ATOMIC_BACKEND)
        super().__init__(*args, backend_args=backend_args, **kwargs)

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if is_main_process() and isinstance(self.file_backend, LocalBackend):
            self._remove_stale_temporaries(runner)

    def _remove_stale_temporaries(self, runner) -> None:
        """Delete the temporary files that a killed save of this hook left behind.

        Only checkpoint and ``last_checkpoint`` temporaries whose writer (the process id in
        the name) is no longer running are removed: a live process's save in progress, e.g.
        another run sharing ``out_dir``, is left alone.
        """
        for folder in {self.out_dir, runner.work_dir}:
            if not osp.isdir(folder):
                continue
            for name in os.listdir(folder):  # MMEngine's listing skips hidden files
                if name.startswith(TEMP_PREFIX) and name.endswith(
                        ('.pth' + TEMP_SUFFIX, 'last_checkpoint' + TEMP_SUFFIX)) and \
                        not _writer_is_alive(name):
                    os.remove(osp.join(folder, name))

    def _save_best_checkpoint(self, runner, metrics) -> None:
        """MMEngine's best-checkpoint logic, but the previous best checkpoint is removed only
        after the new one is completely written (MMEngine removes it first, so a kill in
        between left no best checkpoint)."""
        if not self.save_best:
            return
        check_weights_before_saving(runner, 'the best checkpoint')
        with _removals_deferred(self.file_backend) as removals, interrupts_stay_interrupts():
            super()._save_best_checkpoint(runner, metrics)
        current = {self.best_ckpt_path} if len(self.key_indicators) == 1 else set(
            self.best_ckpt_path_dict.values())
        for path in removals:
            if path not in current and self.file_backend.isfile(path):
                self.file_backend.remove(path)

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        check_weights_before_saving(runner, self.filename_tmpl.format(step))
        outdated = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids
                                            and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.keep_ckpt_ids.maxlen:
                outdated.append(self.keep_ckpt_ids[0])
            self.keep_ckpt_ids.append(step)  # the deque's maxlen drops the oldest id
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        with interrupts_stay_interrupts():
            runner.save_checkpoint(
                self.out_dir,
                ckpt_filename,
                self.file_client_args,
                save_optimizer=self.save_optimizer,
                save_param_scheduler=self.save_param_scheduler,
                meta=meta,
                by_epoch=self.by_epoch,
                backend_args=self.backend_args,
                **self.args)

        if not is_main_process():
            return
        atomic_write_bytes(str(self.last_ckpt).encode(),
                           osp.join(runner.work_dir, 'last_checkpoint'))
        for old_step in outdated:
            path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(old_step))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):  # DeepSpeed checkpoints are folders
                self.file_backend.rmtree(path)
