# Copyright (c) mmhybrid contributors. All rights reserved.
"""The metafiles as data: ``model-index.yml`` and the per-family ``metafile.yml`` it imports.

The metafiles follow OpenMMLab's model-index format (what ``mim search`` / ``mim download``
read): ``Collections`` (one per paper/family) and ``Models``, each with ``Name``,
``In Collection``, ``Config``, ``Metadata`` (``Parameters``, ``FLOPs``, ...), a *list* of
``Results`` (``Task``, ``Dataset``, ``Metrics``), ``Weights`` and the project's own fields
``Notes`` and ``Converted From`` (the authors' checkpoint and figure).

They are read with PyYAML rather than the ``modelindex`` parser because that parser drops
``Weights: null``, the metafiles' statement that no weights were released. Rendering the README
tables and checking the metafiles against ``configs/`` are maintenance jobs:
``tools/analysis_tools/sync_model_zoo.py``.
"""
import fnmatch
import glob
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import yaml

__all__ = ['ModelEntry', 'load_model_index', 'list_configs', 'match_models']


@dataclass
class ModelEntry:
    """One ``Models`` item of a metafile."""
    name: str
    collection: str
    config: str
    metafile: str
    metadata: dict = field(default_factory=dict)
    results: List[dict] = field(default_factory=list)
    weights: Optional[str] = None
    notes: str = ''
    converted_from: dict = field(default_factory=dict)
    weights_declared: bool = False  # ``Weights: null`` says explicitly that none exist

    @property
    def tasks(self) -> List[str]:
        return [r.get('Task', '') for r in self.results]

    @property
    def primary_task(self) -> str:
        """The first result's task; else guessed from the config's name."""
        if self.results:
            return self.results[0].get('Task', '')
        stem = osp.basename(self.config)
        if 'in1k' in stem:
            return 'Image Classification'
        if 'coco.py' in stem or stem.startswith(('retinanet', 'mask-rcnn')):
            return 'Object Detection'
        return 'Semantic Segmentation'

    def metric(self, name: str) -> Optional[float]:
        for result in self.results:
            if name in (result.get('Metrics') or {}):
                return result['Metrics'][name]
        return None


def _read_yaml(path: str):
    with open(path, encoding='utf-8') as f:
        return yaml.safe_load(f) or {}


def load_model_index(root: str = '.') -> Tuple[Dict[str, dict], List[ModelEntry]]:
    """Collections (by name) and models of every metafile imported by ``root/model-index.yml``.

    ``Results`` given as a mapping instead of a list are accepted here (wrapped in a list);
    :func:`check_metafiles` (``tools/analysis_tools/sync_model_zoo.py``) reports them.
    """
    index = _read_yaml(osp.join(root, 'model-index.yml'))
    collections: Dict[str, dict] = {}
    models: List[ModelEntry] = []
    for metafile in index.get('Import', []) or []:
        data = _read_yaml(osp.join(root, metafile))
        for collection in data.get('Collections', []) or []:
            collections[collection['Name']] = dict(collection, metafile=metafile)
        for item in data.get('Models', []) or []:
            results = item.get('Results') or []
            if isinstance(results, dict):
                results = [results]
            models.append(ModelEntry(
                name=item.get('Name', ''), collection=item.get('In Collection', ''),
                config=item.get('Config', ''), metafile=metafile,
                metadata=dict(item.get('Metadata') or {}), results=list(results),
                weights=item.get('Weights'), notes=str(item.get('Notes', '') or ''),
                converted_from=dict(item.get('Converted From') or {}),
                weights_declared='Weights' in item))
    return collections, models


def list_configs(root: str = '.') -> List[str]:
    """Every config under ``root/configs`` except ``_base_`` folders, as relative paths."""
    paths = glob.glob(osp.join(root, 'configs', '**', '*.py'), recursive=True)
    rel = [osp.relpath(p, root).replace(osp.sep, '/') for p in paths]
    return sorted(p for p in rel if '/_base_/' not in p)


def match_models(models: Sequence[ModelEntry], patterns: Optional[Sequence[str]]):
    """Models whose name or config matches any shell pattern (all models when none given)."""
    if not patterns:
        return list(models)
    return [
        m for m in models if any(
            fnmatch.fnmatch(m.name, p) or fnmatch.fnmatch(m.config, p) or p == m.name
            for p in patterns)
    ]
