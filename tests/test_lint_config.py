# Copyright (c) mmhybrid contributors. All rights reserved.
"""The lint set-up agrees with itself: one pinned ruff for make lint, make test and pre-commit."""
import os.path as osp
import re
import subprocess
import sys

import pytest
import yaml

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _read(*parts):
    with open(osp.join(REPO, *parts), encoding='utf-8') as f:
        return f.read()


def _pinned_ruff():
    pins = re.findall(r'^ruff==([\w.]+)\s*$', _read('requirements', 'tests.txt'), re.M)
    assert len(pins) == 1, 'requirements/tests.txt must pin ruff exactly once (ruff==X.Y.Z)'
    return pins[0]


def test_pre_commit_config_is_valid_and_runs_the_pinned_ruff():
    cfg = yaml.safe_load(_read('.pre-commit-config.yaml'))
    repos = {repo['repo']: repo for repo in cfg['repos']}
    ruff = repos['https://github.com/astral-sh/ruff-pre-commit']
    assert ruff['rev'] == f'v{_pinned_ruff()}'
    assert 'ruff' in [hook['id'] for hook in ruff['hooks']]
    hooks = [hook['id'] for hook in repos['https://github.com/pre-commit/pre-commit-hooks']['hooks']]
    assert {'trailing-whitespace', 'end-of-file-fixer', 'check-yaml'} <= set(hooks)


def test_install_script_installs_the_pinned_ruff():
    assert f'"ruff=={_pinned_ruff()}"' in _read('tools', 'install_env.sh')


def test_make_test_runs_lint_first():
    makefile = _read('Makefile')
    assert re.search(r'^lint:.*\n\t\$\(PY\) -m ruff check \.$', makefile, re.M)
    for target in ('test', 'test-fast'):
        deps = re.search(rf'^{target}:(.*)$', makefile, re.M).group(1).split()
        assert 'lint' in deps, f'make {target} must depend on lint'


def test_installed_ruff_is_the_pinned_one():
    try:
        out = subprocess.run([sys.executable, '-m', 'ruff', '--version'], capture_output=True,
                             text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip('ruff is not installed in this environment (make install installs it)')
    assert out.split() == ['ruff', _pinned_ruff()]
