# Copyright (c) mmhybrid contributors. All rights reserved.
"""Find the checkpoint to resume from, even after a run was killed while saving.

MMEngine's auto-resume reads ``<work_dir>/last_checkpoint`` and fails with
``FileNotFoundError: ' can not be found.`` when that file is empty, names a deleted checkpoint
or a truncated one. :func:`find_resumable_checkpoint` checks the named file and otherwise falls
back to the newest intact checkpoint in the work dir, saying why.
"""
import os
import os.path as osp
import re
from typing import List, NamedTuple, Optional

from mmhybrid.utils.checkpoint import checkpoint_problem
from mmhybrid.utils.fileio import TEMP_PREFIX

_STEP_PATTERN = re.compile(r'(?:iter|epoch)_(\d+)\.pth$')


class ResumePoint(NamedTuple):
    """The checkpoint to resume from (``None``: start from scratch) and what was decided."""
    checkpoint: Optional[str]
    message: str


def _candidates(work_dir: str) -> List[str]:
    """Checkpoint files in ``work_dir``, newest first (by the step in the name, then mtime)."""
    paths = [
        osp.join(work_dir, name) for name in os.listdir(work_dir)
        if name.endswith('.pth') and not name.startswith(TEMP_PREFIX)
        and osp.isfile(osp.join(work_dir, name))
    ]

    def newest_first(path: str):
        match = _STEP_PATTERN.search(osp.basename(path))
        return (int(match.group(1)) if match else -1, osp.getmtime(path))

    return sorted(paths, key=newest_first, reverse=True)


def find_resumable_checkpoint(work_dir: str) -> ResumePoint:
    """The checkpoint ``--resume`` (without a path) should continue from.

    ``last_checkpoint`` wins when it names an intact file. Otherwise (missing, empty, dangling,
    truncated) the newest intact ``*.pth`` in ``work_dir`` is taken: checkpoints named
    ``iter_N``/``epoch_N`` by their step, others (e.g. ``best_*``) rank below them. A relative
    path in ``last_checkpoint`` that does not exist from the current folder is looked up by
    its file name in ``work_dir`` (MMEngine writes the path as the run saw it).
    """
    if not osp.isdir(work_dir):
        return ResumePoint(None, f'work dir {work_dir} does not exist: training from scratch')
    pointer = osp.join(work_dir, 'last_checkpoint')
    named = None
    if osp.isfile(pointer):
        with open(pointer) as file:
            named = file.read().strip()
        if named and not osp.isabs(named) and not osp.exists(named):
            named = osp.join(work_dir, osp.basename(named))
        problem = checkpoint_problem(named)
        if problem is None:
            return ResumePoint(named, f'resuming from {named} (named by {pointer})')
        why = (f'{pointer} is empty' if not named else f'{pointer} names {named}, which '
               f'{problem}')
    else:
        why = f'{pointer} does not exist'
    rejected = []
    for path in _candidates(work_dir):
        problem = checkpoint_problem(path)
        if problem is None:
            skipped = f' (skipped: {"; ".join(rejected)})' if rejected else ''
            return ResumePoint(path, f'{why}; resuming from the newest intact checkpoint '
                               f'{path} instead{skipped}')
        rejected.append(f'{osp.basename(path)} {problem}')
    skipped = f' ({"; ".join(rejected)})' if rejected else ''
    return ResumePoint(None, f'{why} and {work_dir} holds no intact checkpoint{skipped}: '
                       'training from scratch')
