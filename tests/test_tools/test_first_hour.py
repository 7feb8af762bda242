# Copyright (c) mmhybrid contributors. All rights reserved.
"""A newcomer's first hour, exactly as README.md writes it.

Every fenced block that follows a ``<!-- first-hour -->`` mark runs, in order, with bash, in a
copy of the checkout that holds the tracked and new files and nothing else (no ``data/``, no
``work_dirs/``), and with this test's virtual environment as ``.venv``. Each block must exit 0,
print no warning or error line on stdout, and leave the files the README promises.
"""
import os
import os.path as osp
import re
import shutil
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MARK = '<!-- first-hour -->'

#: What the blocks write, relative to the checkout, in the order the README runs them.
EXPECTED_OUTPUTS = (
    'data/tiny/ADEChallengeData2016', 'data/tiny/coco', 'data/tiny/imagenet',
    'work_dirs/first/seg/iter_10.pth', 'work_dirs/first/det/epoch_1.pth',
    'work_dirs/first/cls/epoch_1.pth', 'work_dirs/first/seg.onnx', 'work_dirs/first/seg_int8.onnx',
    'outputs/seg.png', 'outputs/det.jpg', 'outputs/cls.png')
#: A stdout line that is a warning or an error: MMEngine's log format or Python's warnings.
NOT_QUIET = re.compile(r' - (WARNING|ERROR) - |\b\w*Warning: |^(Traceback|error:|FAILED)')


def first_hour_blocks(text: str):
    """``(language, code)`` of every fenced block marked ``first-hour``, in order."""
    blocks = []
    for part in text.split(MARK)[1:]:
        match = re.match(r'\s*```(\w+)\n(.*?)```', part, re.S)
        assert match, f'{MARK} must be followed by a fenced block'
        blocks.append(match.groups())
    return blocks


def copy_checkout(dest: str) -> None:
    """The tracked and not-ignored new files of this checkout, as a clean clone would hold
    them with the working tree's edits."""
    listing = subprocess.run(
        ['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], cwd=REPO,
        capture_output=True, check=True).stdout.decode()
    for name in filter(None, listing.split('\0')):
        source = osp.join(REPO, name)
        if osp.isfile(source):  # a tracked file deleted in the working tree is skipped
            os.makedirs(osp.dirname(osp.join(dest, name)), exist_ok=True)
            shutil.copy2(source, osp.join(dest, name))


def test_the_readme_marks_the_first_hour():
    with open(osp.join(REPO, 'README.md')) as file:
        blocks = first_hour_blocks(file.read())
    assert [language for language, _ in blocks] == ['bash', 'bash']
    commands = ' '.join(code for _, code in blocks)
    for tool in ('make_tiny_datasets.py', 'train.py', 'test.py', 'pytorch2onnx.py',
                 'quantize.py', 'image_demo.py'):
        assert tool in commands
    for flag in ('--data-root', '--iters', '--epochs'):
        assert flag in commands


@pytest.mark.slow
@pytest.mark.skipif(not osp.isdir(osp.join(REPO, '.git')) or shutil.which('git') is None,
                    reason='needs the git checkout to copy')
def test_the_first_hour_runs_as_written(tmp_path):
    checkout = tmp_path / 'mmhybrid'
    copy_checkout(str(checkout))
    os.symlink(sys.prefix, checkout / '.venv')  # the environment `make install` built
    with open(checkout / 'README.md') as file:
        blocks = first_hour_blocks(file.read())
    env = {k: v for k, v in os.environ.items() if k not in ('VIRTUAL_ENV', 'PYTHONPATH')}
    env.update(PYTHONUNBUFFERED='1', PATH=f'{osp.dirname(sys.executable)}:{env["PATH"]}')
    for index, (_, code) in enumerate(blocks):
        proc = subprocess.run(['bash', '-c', 'set -euo pipefail\n' + code], cwd=checkout,
                              env=env, capture_output=True, text=True, timeout=1200)
        context = f'block {index + 1}:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}'
        assert proc.returncode == 0, context
        noisy = [line for line in proc.stdout.splitlines() if NOT_QUIET.search(line)]
        assert not noisy, '\n'.join(noisy)
    missing = [path for path in EXPECTED_OUTPUTS if not osp.exists(checkout / path)]
    assert not missing, missing
    overlays = [name for _, _, names in os.walk(checkout / 'work_dirs/first/seg/overlays')
                for name in names if name.endswith('.png')]
    assert len(overlays) == 2  # --show-dir: one drawing per tiny validation image
