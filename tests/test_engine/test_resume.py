# Copyright (c) mmhybrid contributors. All rights reserved.
"""``--resume`` without a path: which checkpoint, and why (no training here)."""
import os

import torch

from mmhybrid.engine import find_resumable_checkpoint
from mmhybrid.utils.checkpoint import checkpoint_problem


def write_checkpoint(path, value=0.0):
    torch.save(dict(meta=dict(iter=value), state_dict={'w': torch.full((64, ), value)}),
               str(path))
    return str(path)


def truncate(path, keep=0.5):
    data = open(path, 'rb').read()
    with open(path, 'wb') as file:
        file.write(data[:int(len(data) * keep)])


def test_last_checkpoint_is_used_when_intact(tmp_path):
    write_checkpoint(tmp_path / 'iter_2.pth')
    named = write_checkpoint(tmp_path / 'iter_1.pth')
    (tmp_path / 'last_checkpoint').write_text(named)
    found = find_resumable_checkpoint(str(tmp_path))
    assert found.checkpoint == named and 'last_checkpoint' in found.message


def test_dangling_last_checkpoint_falls_back_to_newest_intact(tmp_path):
    write_checkpoint(tmp_path / 'iter_2.pth')
    write_checkpoint(tmp_path / 'iter_10.pth')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_9.pth'))
    found = find_resumable_checkpoint(str(tmp_path))
    assert found.checkpoint == str(tmp_path / 'iter_10.pth')  # by step, not by name order
    assert 'iter_9.pth, which does not exist' in found.message
    assert 'newest intact checkpoint' in found.message


def test_empty_last_checkpoint_and_truncated_newest_file(tmp_path):
    write_checkpoint(tmp_path / 'iter_3.pth')
    write_checkpoint(tmp_path / 'iter_4.pth')
    truncate(str(tmp_path / 'iter_4.pth'))
    (tmp_path / 'iter_5.pth').write_bytes(b'')
    (tmp_path / 'last_checkpoint').write_text('')
    found = find_resumable_checkpoint(str(tmp_path))
    assert found.checkpoint == str(tmp_path / 'iter_3.pth')
    assert 'last_checkpoint is empty' in found.message
    assert 'iter_5.pth is empty (0 bytes)' in found.message
    assert 'iter_4.pth is truncated or corrupt' in found.message


def test_relative_last_checkpoint_from_another_folder(tmp_path, monkeypatch):
    write_checkpoint(tmp_path / 'iter_1.pth')
    (tmp_path / 'last_checkpoint').write_text('./work_dirs/run/iter_1.pth')
    monkeypatch.chdir(tmp_path.parent)
    found = find_resumable_checkpoint(str(tmp_path))
    assert found.checkpoint == os.path.join(str(tmp_path), 'iter_1.pth')


def test_nothing_to_resume_trains_from_scratch(tmp_path):
    (tmp_path / 'iter_1.pth').write_bytes(b'not a checkpoint')
    (tmp_path / '.tmp-1-ab-iter_2.pth.part').write_bytes(b'')
    found = find_resumable_checkpoint(str(tmp_path))
    assert found.checkpoint is None
    assert 'training from scratch' in found.message and 'iter_1.pth' in found.message
    assert '.tmp-' not in found.message
    assert find_resumable_checkpoint(str(tmp_path / 'missing')).checkpoint is None


def test_checkpoint_problem_detects_a_flipped_byte(tmp_path):
    path = write_checkpoint(tmp_path / 'a.pth', value=1.0)
    assert checkpoint_problem(path) is None
    data = bytearray(open(path, 'rb').read())
    offset = data.index(torch.full((64, ), 1.0).numpy().tobytes())
    data[offset + 3] ^= 0xFF
    open(path, 'wb').write(bytes(data))
    assert 'fails its checksum' in checkpoint_problem(path)
