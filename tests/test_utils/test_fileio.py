# Copyright (c) mmhybrid contributors. All rights reserved.
import os

import pytest

from mmhybrid.utils.fileio import atomic_output, atomic_write_bytes, check_destination


def test_atomic_output_replaces_only_on_success(tmp_path):
    target = tmp_path / 'model.pth'
    target.write_bytes(b'old')
    with pytest.raises(RuntimeError):
        with atomic_output(str(target)) as tmp:
            open(tmp, 'wb').write(b'half')
            raise RuntimeError('killed halfway')
    assert target.read_bytes() == b'old'
    assert os.listdir(tmp_path) == ['model.pth']
    atomic_write_bytes(b'new', str(target))
    assert target.read_bytes() == b'new' and os.listdir(tmp_path) == ['model.pth']


def test_check_destination(tmp_path):
    src = tmp_path / 'src.pth'
    src.write_bytes(b'weights')
    link = tmp_path / 'link.pth'
    link.symlink_to(src)
    for dst in (src, link):
        with pytest.raises(ValueError, match='is the source file'):
            check_destination(str(dst), sources=[str(src)], force=True)
    with pytest.raises(FileExistsError, match='--force'):
        check_destination(str(src), sources=[str(tmp_path / 'other.pth')])
    check_destination(str(src), sources=[str(tmp_path / 'other.pth')], force=True)
    check_destination(str(tmp_path / 'new.pth'), sources=[str(src)])
    with pytest.raises(IsADirectoryError):
        check_destination(str(tmp_path), force=True)


def test_full_disk_keeps_the_old_file(tmp_path, monkeypatch):
    """ENOSPC halfway through a write: the old file stays, no temporary file is left."""
    import builtins
    import errno

    target = tmp_path / 'iter_8.pth'
    target.write_bytes(b'previous checkpoint')
    real_open = builtins.open

    class FullDisk:

        def __init__(self, file):
            self.file = file

        def write(self, data):
            self.file.write(data[:3])
            raise OSError(errno.ENOSPC, 'No space left on device')

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

    def open_on_full_disk(path, mode='r', *args, **kwargs):
        file = real_open(path, mode, *args, **kwargs)
        return FullDisk(file) if 'w' in mode else file

    monkeypatch.setattr(builtins, 'open', open_on_full_disk)
    with pytest.raises(OSError, match='No space left'):
        atomic_write_bytes(b'new checkpoint bytes', str(target))
    monkeypatch.undo()
    assert target.read_bytes() == b'previous checkpoint'
    assert os.listdir(tmp_path) == ['iter_8.pth']
