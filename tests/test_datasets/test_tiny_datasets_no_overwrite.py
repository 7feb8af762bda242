# Copyright (c) mmhybrid contributors. All rights reserved.
"""The tiny-dataset makers and their tool never write over files they did not write."""
import hashlib
import json
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
from helpers import load_tool

from mmhybrid.testing import DATASET_MAKERS, make_ade20k, make_all, make_coco
from mmhybrid.testing.tiny_datasets import MARKER_NAME

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'dataset_converters', 'make_tiny_datasets.py')
main = load_tool('dataset_converters/make_tiny_datasets.py').main

REAL_IMAGE = 'ADEChallengeData2016/images/training/ADE_train_00000001.jpg'
REAL_LABEL = 'ADEChallengeData2016/annotations/training/ADE_train_00000001.png'
SMALL = ['--datasets', 'ade20k', '--num-train', '2', '--num-val', '1']


def _tree(root):
    """``{path relative to root: md5}`` of every file under ``root``."""
    digest = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = osp.join(folder, name)
            with open(path, 'rb') as f:
                digest[osp.relpath(path, root).replace(os.sep, '/')] = hashlib.md5(
                    f.read()).hexdigest()
    return digest


def _put(root, rel, data):
    path = osp.join(root, *rel.split('/'))
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(data)


def _real_ade20k(tmp_path):
    """A folder holding (a stand-in for) a real ADE20K sample under the same names."""
    root = str(tmp_path / 'data')
    _put(root, REAL_IMAGE, b'real ADE20K image bytes')
    _put(root, REAL_LABEL, b'real ADE20K label bytes')
    return root


def _marker_files(root):
    with open(osp.join(root, MARKER_NAME)) as f:
        return json.load(f)['files']


def test_refuses_folder_holding_a_dataset(tmp_path):
    root = _real_ade20k(tmp_path)
    before = _tree(root)
    for make in (lambda: make_all(root, names=['ade20k'], num_train=2, num_val=1),
                 lambda: make_ade20k(root, num_train=2, num_val=1),
                 lambda: make_coco(root, num_train=2, num_val=1)):
        with pytest.raises(FileExistsError, match='--overwrite') as info:
            make()
        assert root in str(info.value)
        assert 'not empty' in str(info.value)
        assert _tree(root) == before  # same bytes, nothing added (no marker either)


def test_overwrite_never_replaces_foreign_files(tmp_path, capsys):
    root = _real_ade20k(tmp_path)
    before = _tree(root)
    with pytest.raises(SystemExit) as info:
        main([root, '--overwrite'] + SMALL)
    assert info.value.code not in (0, None)
    message = str(info.value.code)
    assert root in message
    assert 'holds 2 path(s)' in message  # the image and its label
    assert REAL_IMAGE in message and REAL_LABEL in message
    assert _tree(root) == before
    # the library refuses the same way, for any maker and for make_all
    with pytest.raises(FileExistsError, match='ADE_train_00000001'):
        make_ade20k(root, num_train=2, num_val=1, overwrite=True)
    with pytest.raises(FileExistsError, match='ADE_train_00000001'):
        make_all(root, names=['coco', 'ade20k'], num_train=2, num_val=1, overwrite=True)
    assert _tree(root) == before


def test_overwrite_writes_beside_unrelated_files(tmp_path, capsys):
    root = str(tmp_path / 'data')
    _put(root, 'notes.txt', b'my notes')
    _put(root, 'ade/ADEChallengeData2016/images/training/ADE_train_00000001.jpg', b'real')
    with pytest.raises(SystemExit):
        main([root] + SMALL)  # not empty, no marker
    main([root, '--overwrite'] + SMALL)
    assert 'data_root=' in capsys.readouterr().out
    tree = _tree(root)
    assert tree['notes.txt'] == hashlib.md5(b'my notes').hexdigest()
    assert tree['ade/ADEChallengeData2016/images/training/ADE_train_00000001.jpg'] == \
        hashlib.md5(b'real').hexdigest()
    written = set(_marker_files(root))
    assert len(written) == 2 * 3
    assert set(tree) == written | {
        MARKER_NAME, 'notes.txt', 'ade/ADEChallengeData2016/images/training/ADE_train_00000001.jpg'}
    # the folder is now recognised as earlier output: no --overwrite needed any more
    main([root, '--datasets', 'coco', '--num-train', '1', '--num-val', '1'])
    assert _tree(root)['notes.txt'] == tree['notes.txt']


def test_rerun_on_own_output(tmp_path, capsys):
    root = str(tmp_path / 'tiny')
    main([root] + SMALL)
    first = _tree(root)
    main([root] + SMALL)  # what tools/demo.sh does on data/tiny
    assert _tree(root) == first
    # more images, another dataset, and the public makers, all into the same folder
    main([root, '--datasets', 'ade20k', '--num-train', '3', '--num-val', '1'])
    make_coco(root, num_train=1, num_val=1)
    make_all(root, names=['ade20k', 'imagenet'], num_train=2, num_val=1)
    assert set(_tree(root)) == set(_marker_files(root)) | {MARKER_NAME}
    assert 'ADEChallengeData2016/images/training/ADE_train_00000003.jpg' in _marker_files(root)


def test_rerun_never_replaces_files_added_later(tmp_path):
    root = str(tmp_path / 'tiny')
    make_ade20k(root, num_train=1, num_val=1)
    _put(root, REAL_IMAGE.replace('00000001', '00000002'), b'added by hand')
    before = _tree(root)
    with pytest.raises(FileExistsError, match='ADE_train_00000002.jpg'):
        make_ade20k(root, num_train=2, num_val=1, overwrite=True)
    assert _tree(root) == before


def test_tool_exit_status_and_message(tmp_path):
    root = _real_ade20k(tmp_path)
    before = _tree(root)
    proc = subprocess.run([sys.executable, TOOL, root] + SMALL, cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 1
    assert proc.stderr.startswith('error: ')
    assert root in proc.stderr and '--overwrite' in proc.stderr
    assert 'Traceback' not in proc.stderr
    assert _tree(root) == before


@pytest.mark.parametrize('name', sorted(DATASET_MAKERS))
def test_every_maker_plans_exactly_what_it_writes_and_guards_it(name, tmp_path):
    maker = DATASET_MAKERS[name]
    reference = str(tmp_path / 'reference')
    maker(reference, num_train=2, num_val=1)
    planned = _marker_files(reference)
    assert set(_tree(reference)) == set(planned) | {MARKER_NAME}
    for index, rel in enumerate((planned[0], planned[-1])):
        target = str(tmp_path / f'target{index}')
        _put(target, rel, b'foreign')
        with pytest.raises(FileExistsError, match=re.escape(rel)):
            maker(target, num_train=2, num_val=1, overwrite=True)
        assert _tree(target) == {rel: hashlib.md5(b'foreign').hexdigest()}


def test_refuses_odd_targets(tmp_path):
    afile = str(tmp_path / 'afile')
    _put(str(tmp_path), 'afile', b'x')
    with pytest.raises(FileExistsError, match='not a folder'):
        make_ade20k(afile, num_train=1, num_val=1, overwrite=True)
    # a sub-folder that links elsewhere (e.g. to the real dataset) is never written through
    real, root = tmp_path / 'real', tmp_path / 'tiny'
    real.mkdir()
    root.mkdir()
    os.symlink(real, root / 'ADEChallengeData2016')
    with pytest.raises(FileExistsError, match='symbolic link'):
        make_ade20k(str(root), num_train=1, num_val=1, overwrite=True)
    assert os.listdir(real) == []
    # a marker that this module did not write is not trusted
    odd = str(tmp_path / 'odd')
    _put(odd, MARKER_NAME, b'{"something": "else"}')
    with pytest.raises(FileExistsError, match='not a list of files'):
        make_ade20k(odd, num_train=1, num_val=1, overwrite=True)
    assert os.listdir(odd) == [MARKER_NAME]
