# Copyright (c) mmhybrid contributors. All rights reserved.
"""The package's layers, checked from the source with ``ast`` so that they stay as documented.

From the bottom up::

    utils, registry, version          import no other mmhybrid package
    models, datasets, engine, testing  import utils and registry (and themselves)
    converters                         imports models: the authors' checkpoints -> mmhybrid
    tasks                              imports models: a config's scope and its built model
    analysis                           measurement: imports tasks and the above
    deploy                             deployment: imports analysis (timings) and the above
    apis                               the user APIs: may import anything (runner set-up,
                                       inference, weights)

Every import counts, including those inside functions and ``importlib.import_module('...')``
with a literal name: a lazy import is still a dependency. Also checked here: library code
raises exceptions rather than exiting (``SystemExit``/``sys.exit`` belong in ``tools/``), and
importing :mod:`mmhybrid.testing` registers nothing into MMEngine's registries.
"""
import ast
import os
import os.path as osp
import subprocess
import sys
from typing import Dict, Iterator, List, Tuple

import pytest

import mmhybrid

PACKAGE_DIR = osp.dirname(osp.abspath(mmhybrid.__file__))
REPO = osp.dirname(PACKAGE_DIR)

BASE = ('mmhybrid.utils', 'mmhybrid.registry', 'mmhybrid.version')
#: layer -> the mmhybrid modules it may import (besides its own modules); ``None``: anything.
ALLOWED: Dict[str, Tuple[str, ...]] = {
    'mmhybrid.utils': (),
    'mmhybrid.registry': (),
    'mmhybrid.version': (),
    'mmhybrid.models': ('mmhybrid.utils', 'mmhybrid.registry'),
    'mmhybrid.datasets': ('mmhybrid.utils', 'mmhybrid.registry'),
    'mmhybrid.engine': ('mmhybrid.utils', 'mmhybrid.registry'),
    'mmhybrid.testing': ('mmhybrid.utils', 'mmhybrid.registry'),
    'mmhybrid.converters': BASE + ('mmhybrid.models', ),
    'mmhybrid.tasks': BASE + ('mmhybrid.models', ),
    'mmhybrid.analysis': BASE + ('mmhybrid.models', 'mmhybrid.tasks'),
    'mmhybrid.deploy': BASE + ('mmhybrid.models', 'mmhybrid.tasks', 'mmhybrid.analysis'),
    'mmhybrid.apis': None,
}


def _module_name(path: str) -> str:
    relative = osp.relpath(path, REPO)[:-len('.py')].replace(os.sep, '.')
    return relative[:-len('.__init__')] if relative.endswith('.__init__') else relative


def _library_files() -> List[str]:
    files = []
    for folder, _, names in os.walk(PACKAGE_DIR):
        files += [osp.join(folder, name) for name in sorted(names) if name.endswith('.py')]
    return sorted(files)


def _layer(module: str) -> str:
    """``'mmhybrid.models.layers.lgl'`` -> ``'mmhybrid.models'``; ``'mmhybrid'`` for the root."""
    return '.'.join(module.split('.')[:2])


def imported_modules(source: str, module: str,
                     is_package: bool = False) -> Iterator[Tuple[int, str]]:
    """``(line, name)`` of everything that ``source`` (the code of ``module``) imports, anywhere
    in it: relative imports resolved, ``from a import b`` read as ``a.b`` (``b`` may be a
    module), ``importlib.import_module('a')`` with a literal name read as ``a``."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ''
            if node.level:
                parts = module.split('.')
                base = parts[:len(parts) - node.level + (1 if is_package else 0)]
                target = '.'.join(base + ([node.module] if node.module else []))
            for alias in node.names:
                yield node.lineno, f'{target}.{alias.name}'
        elif isinstance(node, ast.Call) and node.args and \
                isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, 'id', '')
            if name in ('import_module', '__import__'):
                yield node.lineno, node.args[0].value


def _violations(source: str, module: str, is_package: bool = False,
                where: str = '') -> List[str]:
    own = _layer(module)
    allowed = ALLOWED.get(own)
    if own == 'mmhybrid' or allowed is None:  # the root package and apis import anything
        return []
    found = []
    for line, target in imported_modules(source, module, is_package):
        if target.split('.')[0] != 'mmhybrid':
            continue
        layer = _layer(target)
        if layer != own and layer not in allowed:
            found.append(f'{where or module}:{line} imports {target} ({own} may import '
                         f'{", ".join(allowed) or "no other mmhybrid package"})')
    return found


def _file_violations(path: str) -> List[str]:
    with open(path, encoding='utf-8') as f:
        source = f.read()
    return _violations(source, _module_name(path), path.endswith('__init__.py'),
                       osp.relpath(path, REPO))


def test_every_package_has_a_layer():
    layers = {_layer(_module_name(path)) for path in _library_files()} - {'mmhybrid'}
    assert layers <= set(ALLOWED), f'give {sorted(layers - set(ALLOWED))} a row in ALLOWED'


@pytest.mark.parametrize('layer', sorted(ALLOWED))
def test_layer_imports_only_the_layers_below(layer):
    files = [p for p in _library_files() if _layer(_module_name(p)) == layer]
    assert files, f'no module in {layer}'
    violations = [v for path in files for v in _file_violations(path)]
    assert not violations, '\n'.join(violations)


def test_the_checker_sees_relative_lazy_and_importlib_imports():
    """The scanner itself: a utils module importing upper layers in four ways is caught."""
    source = ('import importlib\n'
              'from ..models import backbones\n'
              'from . import config\n'
              'def f():\n'
              '    from mmhybrid import analysis\n'
              '    import mmhybrid.apis.runner_setup\n'
              "    return importlib.import_module('mmhybrid.engine')\n")
    found = _violations(source, 'mmhybrid.utils.probe')
    assert [v.split(' imports ')[1].split(' ')[0] for v in found] == [
        'mmhybrid.models.backbones', 'mmhybrid.analysis', 'mmhybrid.apis.runner_setup',
        'mmhybrid.engine']
    assert not _violations('from . import checkpoint\n', 'mmhybrid.utils', is_package=True)
    assert _violations('from .. import models\n', 'mmhybrid.utils', is_package=True)


def _exits(path: str) -> Iterator[int]:
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if getattr(exc, 'id', None) == 'SystemExit':
                yield node.lineno
        elif isinstance(node, ast.Call):
            func = node.func
            if (isinstance(func, ast.Attribute) and func.attr == 'exit'
                    and getattr(func.value, 'id', None) == 'sys') or \
                    (isinstance(func, ast.Name) and func.id in ('exit', 'quit')):
                yield node.lineno


def test_library_code_raises_instead_of_exiting():
    """``mmhybrid/`` (converters included) raises exceptions; only ``tools/`` scripts exit."""
    exits = [f'{osp.relpath(path, REPO)}:{line}' for path in _library_files()
             for line in _exits(path)]
    assert not exits, f'SystemExit / sys.exit in library code: {exits}'


def test_library_code_runs_no_script_by_path():
    """``mmhybrid/`` imports its code as modules: no script under ``tools/`` (or anywhere) is
    loaded by file path or run as a program."""
    found = []
    for path in _library_files():
        with open(path, encoding='utf-8') as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            name = node.attr if isinstance(node, ast.Attribute) else getattr(node, 'id', None)
            if name in ('spec_from_file_location', 'run_path', 'SourceFileLoader') or \
                    (isinstance(node, ast.Name) and name == 'runpy'):
                found.append(f'{osp.relpath(path, REPO)}:{node.lineno} {name}')
    assert not found, f'library code loads scripts by path: {found}'


def test_converter_errors_are_exceptions(tmp_path):
    from mmhybrid.utils.converters import CONVERTER_ERRORS, load_source_checkpoint
    with pytest.raises(FileNotFoundError):
        load_source_checkpoint(str(tmp_path / 'missing.pth'))
    assert all(issubclass(error, Exception) for error in CONVERTER_ERRORS)
    assert not any(issubclass(error, SystemExit) for error in CONVERTER_ERRORS)


_SNAPSHOT = '''
import json, sys
import mmengine.registry as r
import mmhybrid

def snapshot():
    names, pending = {}, [v for v in vars(r).values() if isinstance(v, r.Registry)]
    while pending:
        registry = pending.pop()
        names[f'{registry.scope}::{registry.name}'] = sorted(registry.module_dict)
        pending += list(registry.children.values())
    return names

before = snapshot()
import mmhybrid.testing  # noqa: E402
after = snapshot()
print(json.dumps({key: sorted(set(after[key]) - set(before.get(key, [])))
                  for key in after if set(after[key]) - set(before.get(key, []))}))
'''


def test_importing_mmhybrid_testing_registers_nothing():
    result = subprocess.run([sys.executable, '-c', _SNAPSHOT], cwd=REPO, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == '{}'
