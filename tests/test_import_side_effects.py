# Copyright (c) mmhybrid contributors. All rights reserved.
"""``import mmhybrid`` and ``import mmhybrid.models`` register the project's modules and change
nothing else: not MMEngine's classes, not torch's safe-globals list, not ``sys.meta_path``, not
MMPretrain's model hub, not any attribute of another library (issue 18, item 2).

Each check runs in a fresh interpreter, so that nothing the test session imported or patched
before can hide a side effect.
"""
import json
import os.path as osp
import subprocess
import sys

import pytest

# Each probe starts a Python that imports torch and the three task libraries: ~10 s apiece.
pytestmark = pytest.mark.slow

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

#: Snapshots the state other libraries keep, imports ``IMPORTS``, snapshots again and prints the
#: differences as JSON. The libraries that ``mmhybrid.models`` imports are imported first, so
#: that only what mmhybrid does is compared (their own import-time changes are theirs).
_PROBE = r'''
import json
import sys
import types

import mmcv, mmdet, mmdet.models, mmengine.logging, mmpretrain, mmpretrain.models  # noqa
import mmseg, mmseg.models, torch  # noqa
from mmengine.logging import HistoryBuffer
from mmpretrain.apis.model import ModelHub


def other_libraries():
    """id() of every attribute of every imported module other than mmhybrid's, and of every
    class those modules define (a monkey-patched function or method changes its id)."""
    state = {}
    for name, module in list(sys.modules.items()):
        if module is None or name.split('.')[0] == 'mmhybrid':
            continue
        try:
            attrs = dict(vars(module))
        except TypeError:
            continue
        state[name] = {key: (id(value), isinstance(value, types.ModuleType))
                       for key, value in attrs.items()
                       if not (key.startswith('__') and key.endswith('__'))}
        for key, value in attrs.items():
            if isinstance(value, type) and value.__module__ == name:
                state[f'{name}.{key}'] = {attr: (id(member), False)
                                          for attr, member in list(vars(value).items())}
    return state


def snapshot():
    return {
        'meta_path': [repr(finder) for finder in sys.meta_path],
        'HistoryBuffer.__dict__': sorted(
            (key, repr(value)) for key, value in vars(HistoryBuffer).items()),
        'HistoryBuffer.__getstate__': repr(HistoryBuffer.__getstate__),
        'safe_globals': [repr(g) for g in torch.serialization.get_safe_globals()],
        'ModelHub': sorted(ModelHub._models_dict),
    }


before, libraries = snapshot(), other_libraries()
IMPORTS
after, now = snapshot(), other_libraries()
changed = {key: [before[key], after[key]] for key in before if before[key] != after[key]}
rebound = []
for name, attrs in libraries.items():
    for key, (ident, _) in attrs.items():
        if key not in now.get(name, {}):
            rebound.append(f'{name}.{key} deleted')
        elif now[name][key][0] != ident and not now[name][key][1]:
            # (a lazily imported submodule replacing its placeholder is no patch)
            rebound.append(f'{name}.{key} replaced')
print('RESULT ' + json.dumps({'changed': changed, 'rebound': rebound}))
'''


def _probe(imports: str) -> dict:
    script = _PROBE.replace('IMPORTS', imports)
    proc = subprocess.run([sys.executable, '-c', script], cwd=REPO, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [line for line in proc.stdout.splitlines() if line.startswith('RESULT ')][-1]
    return json.loads(line[len('RESULT '):])


def test_import_mmhybrid_and_its_models_changes_no_other_library():
    result = _probe('import mmhybrid\nimport mmhybrid.models  # noqa')
    assert result['changed'] == {}, json.dumps(result['changed'], indent=1)[:3000]
    assert result['rebound'] == [], result['rebound'][:20]


def test_import_mmhybrid_apis_only_registers_into_mmpretrains_hub():
    """``mmhybrid.apis`` makes the one explicit change it documents: our classification models
    in MMPretrain's hub (here at once: MMPretrain is already imported, so no import hook)."""
    result = _probe('import mmhybrid.apis  # noqa')
    assert set(result['changed']) == {'ModelHub'}, list(result['changed'])
    before, after = result['changed']['ModelHub']
    assert not before and 'topformer-t_8xb128_in1k' in after
    assert result['rebound'] == [], result['rebound'][:20]


def test_bare_import_installs_no_hook_and_patches_nothing():
    """Without the other libraries imported first: no import hook of ours is installed, and
    MMEngine's pickling and torch's allow-list are MMEngine's and torch's."""
    script = '''
import sys
import mmhybrid, mmhybrid.models  # noqa
import torch
from mmengine.logging import HistoryBuffer
hooks = [f for f in sys.meta_path if type(f).__module__.startswith('mmhybrid')]
assert not hooks, hooks
assert 'mmhybrid.apis' not in sys.modules
assert HistoryBuffer.__getstate__.__module__ == 'mmengine.logging.history_buffer'
assert HistoryBuffer not in torch.serialization.get_safe_globals()
from mmpretrain.apis.model import ModelHub
assert not [k for k, v in ModelHub._models_dict.items() if getattr(v, '_mmhybrid', False)]
'''
    proc = subprocess.run([sys.executable, '-c', script], cwd=REPO, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
