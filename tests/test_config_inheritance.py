# Copyright (c) mmhybrid contributors. All rights reserved.
"""The configs load, and share what they share by inheritance rather than by copies.

* every config under ``configs/`` loads with ``Config.fromfile`` and imports ``mmhybrid.models``;
* every config with an mmhybrid backbone takes its model from ``configs/_base_/models/``, and
  every file there is used;
* the HAT-Net / TransCNN configs of one task and size differ only in the backbone type and what
  follows from it (widths, checkpoint, ``norm_eval``, ``find_unused_parameters``, for ImageNet the
  input resolution).

``tests/test_configs.py`` trains each config for one step; this file is the cheap check.
"""
import ast
import functools
from pathlib import Path

import pytest
from mmengine.config import Config

CONFIG_DIR = Path(__file__).resolve().parents[1] / 'configs'
BASE_DIR = CONFIG_DIR / '_base_'
CONFIGS = sorted(
    str(p.relative_to(CONFIG_DIR)) for p in CONFIG_DIR.rglob('*.py')
    if '_base_' not in p.relative_to(CONFIG_DIR).parts)


@functools.lru_cache(maxsize=None)
def _load(rel: str) -> dict:
    return Config.fromfile(str(CONFIG_DIR / rel)).to_dict()


def _local_bases(path: Path) -> list:
    """The ``_base_`` files of ``path`` inside this repository (``pkg::`` bases skipped)."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == '_base_' for t in node.targets):
            bases = ast.literal_eval(node.value)
            bases = [bases] if isinstance(bases, str) else list(bases)
            return [(path.parent / b).resolve() for b in bases if '::' not in b]
    return []


def _ancestors(path: Path) -> set:
    seen, todo = set(), [path.resolve()]
    while todo:
        for base in _local_bases(todo.pop()):
            if base not in seen:
                seen.add(base)
                todo.append(base)
    return seen


def _diff_paths(a, b, prefix=''):
    """Dotted paths where two config values differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = set()
        for key in set(a) | set(b):
            sub = f'{prefix}.{key}' if prefix else str(key)
            if key not in a or key not in b:
                out.add(sub)
            else:
                out |= _diff_paths(a[key], b[key], sub)
        return out
    return set() if a == b else {prefix}


@pytest.mark.parametrize('rel', CONFIGS)
def test_config_loads_and_imports_mmhybrid(rel):
    cfg = _load(rel)
    imports = cfg['custom_imports']
    assert 'mmhybrid.models' in imports['imports'] and imports['allow_failed_imports'] is False


def test_every_mmhybrid_model_comes_from_a_model_base():
    models_dir = (BASE_DIR / 'models').resolve()
    used, missing = set(), []
    for rel in CONFIGS:
        model_bases = {p for p in _ancestors(CONFIG_DIR / rel) if p.parent == models_dir}
        used |= model_bases
        if not model_bases and _load(rel)['model']['backbone']['type'].startswith('mmhybrid.'):
            missing.append(rel)
    assert not missing, f'configs that define their model instead of inheriting one: {missing}'
    unused = sorted(p.name for p in models_dir.glob('*.py') if p.resolve() not in used)
    assert not unused, f'model bases no config inherits: {unused}'


def test_every_schedule_base_is_used():
    used = set().union(*(_ancestors(CONFIG_DIR / rel) for rel in CONFIGS))
    schedules = (BASE_DIR / 'schedules').glob('*.py')
    unused = sorted(p.name for p in schedules if p.resolve() not in used)
    assert not unused, f'schedule bases no config inherits: {unused}'


# What may differ between a HAT-Net config and its TransCNN twin.
_TWIN_DIFFERENCES = {
    'model.backbone.type', 'model.backbone.norm_eval', 'model.backbone.init_cfg.checkpoint',
    'checkpoint', 'model.neck.in_channels', 'model.head.in_channels', 'find_unused_parameters'
}
_PAIRS = [(f'{task}_hatnet-{size}_{suffix}', f'{task}_transcnn-{size}_{suffix}')
          for task, suffix in [('fpn', '4xb4-80k_ade20k-512x512.py'),
                               ('retinanet', 'fpn_1x_coco.py'), ('mask-rcnn', 'fpn_1x_coco.py')]
          for size in ('tiny', 'small')]
_PAIRS += [(f'hatnet-{size}_8xb128_in1k.py', f'transcnn-{size}_8xb128_in1k.py')
           for size in ('tiny', 'small', 'medium', 'large')]


def _without_pipelines(cfg: dict) -> dict:
    """``cfg`` without its data pipelines (HAT-Net trains at 224 px, TransCNN at 256 px)."""
    cfg = {k: v for k, v in cfg.items() if k not in ('train_pipeline', 'test_pipeline')}
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = dict(cfg[key])
        loader['dataset'] = {k: v for k, v in loader['dataset'].items() if k != 'pipeline'}
        cfg[key] = loader
    return cfg


@pytest.mark.parametrize('hatnet, transcnn', _PAIRS, ids=[p[0] for p in _PAIRS])
def test_hatnet_and_transcnn_configs_differ_only_in_the_backbone(hatnet, transcnn):
    a, b = _load(f'hatnet/{hatnet}'), _load(f'hatnet/{transcnn}')
    assert a['model']['backbone']['type'] == 'mmhybrid.HATNet'
    assert b['model']['backbone']['type'] == 'mmhybrid.TransCNN'
    if hatnet.endswith('_in1k.py'):
        a, b = _without_pipelines(a), _without_pipelines(b)
    diff = _diff_paths(a, b)
    assert diff - _TWIN_DIFFERENCES == set(), diff
