# Copyright (c) mmhybrid contributors. All rights reserved.
"""The project's models by name: ``model-index.yml`` and the metafiles it imports.

The names are the metafile ``Name`` fields, the same ones ``mim search mmhybrid`` lists. This
module

* finds ``model-index.yml`` both in a checkout (next to the ``mmhybrid`` package) and in an
  installed package (``mmhybrid/.mim/model-index.yml``, written by ``setup.py``), and resolves
  each model's ``Config`` against the folder that holds it;
* answers :func:`list_models` (fnmatch pattern, task filter) and :func:`resolve_model`
  (a name or a config path -> config file and metafile entry), suggesting close names for
  unknown ones;
* registers every *classification* model into MMPretrain's ``ModelHub``, so that
  ``mmpretrain.get_model``, ``mmpretrain.list_models``, ``mmpretrain.inference_model`` and
  ``ImageClassificationInferencer`` know them by name. Segmentation and detection entries stay
  out of that hub: MMPretrain would build them in its own scope and fail.

The hub registration is an explicit call, made by ``import mmhybrid.apis`` (never by plain
``import mmhybrid`` or ``import mmhybrid.models``), and it must not make ``import mmhybrid.apis``
import MMPretrain (several seconds more for every tool, whatever the task):
:func:`register_into_mmpretrain_lazily` registers at once if ``mmpretrain.apis.model`` is
already imported, and otherwise installs an import hook (``sys.meta_path``) that registers right
after that module is executed, whenever (and if ever) something imports it. MMPretrain offers no
other way to learn of a model index (its hub reads only its own). Nothing here imports torch.
"""
import difflib
import fnmatch
import glob
import importlib.abc
import os
import os.path as osp
import re
import sys
import warnings
from typing import List, Optional, Tuple

from .metafiles import ModelEntry, load_model_index

__all__ = [
    'TASK_ALIASES', 'METAFILE_TASK_SCOPES', 'UnknownModelError', 'find_model_index', 'load_models',
    'model_task', 'model_tasks', 'list_models', 'find_model', 'resolve_model',
    'register_into_mmpretrain', 'register_into_mmpretrain_lazily'
]

#: ``task=`` short names of :func:`list_models` -> the metafile ``Task`` strings they cover.
TASK_ALIASES = {
    'classification': ('Image Classification', ),
    'segmentation': ('Semantic Segmentation', ),
    'detection': ('Object Detection', 'Instance Segmentation'),
}
#: Metafile task of a model (:func:`model_task`) -> the library (``default_scope``) running it.
METAFILE_TASK_SCOPES = {
    'Image Classification': 'mmpretrain',
    'Semantic Segmentation': 'mmseg',
    'Object Detection': 'mmdet',
    'Instance Segmentation': 'mmdet',
}
_MMPRETRAIN_MODEL_MODULE = 'mmpretrain.apis.model'
_REGISTERED_HUBS = set()  # id() of the ModelHub classes already given our models


class UnknownModelError(ValueError):
    """A model name that is neither a metafile name nor a config; the message suggests names."""


def find_model_index() -> str:
    """Path of the project's ``model-index.yml``.

    Looked for in ``mmhybrid/.mim`` (an installed package, or an editable install whose ``.mim``
    holds links) and then in the checkout that holds the ``mmhybrid`` package.

    Raises:
        FileNotFoundError: neither exists (a broken install); the message names both places.
    """
    package_dir = osp.dirname(osp.dirname(osp.abspath(__file__)))
    candidates = [
        osp.join(package_dir, '.mim', 'model-index.yml'),
        osp.join(osp.dirname(package_dir), 'model-index.yml'),
    ]
    for path in candidates:
        if osp.isfile(path):
            return path
    raise FileNotFoundError(
        'mmhybrid: model-index.yml not found in ' + ' or '.join(candidates) +
        '. Reinstall the package (`pip install -e .` in a checkout) so that mmhybrid/.mim is '
        'populated.')


def load_models(index_path: Optional[str] = None) -> Tuple[str, List[ModelEntry]]:
    """The folder holding ``model-index.yml`` (the root of the metafiles' ``Config`` paths) and
    every metafile model, in metafile order. Read afresh on every call (a few ms)."""
    root = osp.dirname(osp.abspath(index_path or find_model_index()))
    return root, load_model_index(root)[1]


def model_task(entry: ModelEntry) -> str:
    """The metafile task of a model: its first ``Results`` task, else guessed from the config's
    name (``*_in1k`` -> Image Classification, ``*_coco`` detectors -> Object Detection, else
    Semantic Segmentation)."""
    return entry.primary_task


def model_tasks(entry: ModelEntry) -> List[str]:
    """Every metafile task of a model: its ``Results`` tasks, else the guessed
    :func:`model_task` (plus Instance Segmentation for a Mask R-CNN config)."""
    if entry.tasks:
        return list(entry.tasks)
    tasks = [model_task(entry)]
    if osp.basename(entry.config).startswith('mask-rcnn'):
        tasks.append('Instance Segmentation')
    return tasks


def _task_matches(entry: ModelEntry, task: str) -> bool:
    wanted = TASK_ALIASES.get(task.lower())
    if wanted is None:
        wanted = (task, )
    tasks = {t.lower() for t in model_tasks(entry)}
    return any(t.lower() in tasks for t in wanted)


def _check_task(task: str, entries: List[ModelEntry]) -> None:
    known = {t.lower() for e in entries for t in model_tasks(e)}
    if task.lower() not in TASK_ALIASES and task.lower() not in known:
        raise ValueError(f'Unknown task {task!r}: use one of {sorted(TASK_ALIASES)} or a '
                         f'metafile task ({sorted(METAFILE_TASK_SCOPES)}).')


#: Name parts that give a schedule or a size, not a model: ``8xb4``, ``160k``, ``1x``,
#: ``512x512``, ``80k``.
_SCHEDULE_PART = re.compile(r'^(\d+xb\d+|\d+k|\d+x|\d+x\d+)$')


def normalize_name(name: str) -> str:
    """A model name as names are compared: lower case, ``-`` and ``_`` alike
    (``'TopFormer-T_ADE20K'`` -> ``'topformer_t_ade20k'``)."""
    return name.lower().replace('-', '_')


def short_name(name: str) -> str:
    """:func:`normalize_name` without the schedule and size parts
    (``'topformer-t_8xb4-160k_ade20k-512x512'`` -> ``'topformer_t_ade20k'``)."""
    return '_'.join(part for part in normalize_name(name).split('_')
                    if not _SCHEDULE_PART.match(part))


def list_models(pattern: Optional[str] = None, task: Optional[str] = None) -> List[str]:
    """Names of the project's models (the metafile names ``mim search mmhybrid`` lists).

    Args:
        pattern (str, optional): An fnmatch pattern (``'*topformer*'``, ``'edgevit-?s_*'``),
            matched case-insensitively with ``-`` and ``_`` alike, against each name with and
            without its schedule part (:func:`short_name`). A pattern without ``*?[``
            matches as a substring.
        task (str, optional): ``'classification'``, ``'segmentation'``, ``'detection'``, or a
            metafile ``Task`` string such as ``'Instance Segmentation'``.

    Returns:
        list[str]: sorted names.

    Example:
        >>> from mmhybrid.apis import list_models
        >>> list_models('topformer-t*', task='classification')
        ['topformer-t_8xb128_in1k']
    """
    _, entries = load_models()
    if task is not None:
        _check_task(task, entries)
        entries = [e for e in entries if _task_matches(e, task)]
    names = sorted({e.name for e in entries})
    if pattern is None:
        return names
    pattern = normalize_name(pattern)
    if not any(char in pattern for char in '*?['):
        pattern = f'*{pattern}*'
    return [name for name in names
            if fnmatch.fnmatchcase(normalize_name(name), pattern)
            or fnmatch.fnmatchcase(short_name(name), pattern)]


def _close_matches(name: str, names: List[str], count: int = 5) -> List[str]:
    lowered = {n.lower(): n for n in names}
    matches = difflib.get_close_matches(name.lower(), list(lowered), n=count, cutoff=0.5)
    substring = [n for n in lowered if name.lower() in n and n not in matches]
    return [lowered[m] for m in (matches + substring)[:count]]


def find_model(name: str) -> Tuple[str, ModelEntry]:
    """The index root and the metafile entry named ``name``.

    Names are compared with :func:`normalize_name` (case, ``-``/``_``); a name without its
    schedule part (``'topformer-t_ade20k'``) finds the one model it shortens, and the error of
    an ambiguous one lists the candidates.

    Raises:
        UnknownModelError: no such name; the message lists close matches.
    """
    root, entries = load_models()
    for entry in entries:
        if normalize_name(entry.name) == normalize_name(name):
            return root, entry
    shortened = [e for e in entries if short_name(e.name) == short_name(name)]
    if len(shortened) == 1:
        return root, shortened[0]
    names = [e.name for e in entries]
    if shortened:
        raise UnknownModelError(
            f'{name!r} names {len(shortened)} models: '
            f'{", ".join(e.name for e in shortened)}; give the full name.')
    close = _close_matches(name, names)
    hint = f' Did you mean: {", ".join(close)}?' if close else ''
    raise UnknownModelError(
        f'Unknown model {name!r}.{hint} `mmhybrid.apis.list_models()` lists all {len(names)} '
        'names (the metafile names); a path to a .py config works as well.')


def resolve_model(name_or_config: str) -> Tuple[str, Optional[ModelEntry]]:
    """The config file of a metafile name or a config path, and the metafile entry if any.

    Accepted, in this order: an existing ``.py`` path; a ``.py`` path relative to the project
    root (``configs/topformer/topformer_t_ade20k.py`` also works from an installed package); a
    metafile name; the file stem of a config under ``configs/`` that has no metafile entry.

    Raises:
        FileNotFoundError: a ``.py`` path that exists nowhere.
        UnknownModelError: a name that matches nothing (close names suggested).
    """
    text = os.fspath(name_or_config)
    root = osp.dirname(find_model_index())
    if text.endswith('.py'):
        for path in (text, osp.join(root, text)):
            if osp.isfile(path):
                config = osp.abspath(path)
                matching = [e for e in load_models()[1]
                            if osp.abspath(osp.join(root, e.config)) == config]
                return config, (matching[0] if matching else None)
        raise FileNotFoundError(f'Config {text} does not exist (also looked under {root}).')
    try:
        root, entry = find_model(text)
    except UnknownModelError:
        stems = glob.glob(osp.join(root, 'configs', '**', f'{text}.py'), recursive=True)
        stems = [p for p in stems if f'{osp.sep}_base_{osp.sep}' not in p]
        if len(stems) == 1:
            return osp.abspath(stems[0]), None
        raise
    return osp.abspath(osp.join(root, entry.config)), entry


def register_into_mmpretrain(model_hub: Optional[type] = None) -> List[str]:
    """Register every classification model of the index into MMPretrain's ``ModelHub``.

    ``ModelHub.register_model_index`` takes a whole model index and would add the segmentation
    and detection models too, which MMPretrain can neither build nor run; so the index is read
    with the same ``modelindex`` parser, filtered, and the entries are added to the hub's table
    (``ModelHub._models_dict``, which ``mmpretrain.list_models`` reads as well) with absolute
    config paths. Classification entries without ``Results`` get an ``Image Classification``
    result (no metrics), as ``mmpretrain.inference_model`` picks its inferencer from it.

    Names MMPretrain already has are left alone (a warning names them), so a later import of
    MMPretrain's own index cannot clash. Idempotent.

    Returns:
        list[str]: the names now registered by mmhybrid.
    """
    if model_hub is None:
        from mmpretrain.apis.model import ModelHub as model_hub
    from modelindex.load_model_index import load
    from modelindex.models.Result import Result

    index_path = find_model_index()
    root = osp.dirname(osp.abspath(index_path))
    index = load(index_path)
    index.build_models_with_collections()
    table = model_hub._models_dict
    registered, clashes = [], []
    for metainfo in index.models:
        results = [{'Task': result.task} for result in (metainfo.results or [])]
        entry = ModelEntry(name=metainfo.name, collection='', config=metainfo.config or '',
                           metafile='', results=results)
        if model_task(entry) != 'Image Classification':
            continue
        key = metainfo.name.lower()
        existing = table.get(key)
        if existing is not None and not getattr(existing, '_mmhybrid', False):
            clashes.append(metainfo.name)
            continue
        if metainfo.config and not osp.isabs(metainfo.config):
            metainfo.config = osp.abspath(osp.join(root, metainfo.config))
        if not metainfo.results:
            metainfo.results = [Result(task='Image Classification', dataset='ImageNet-1k',
                                       metrics={})]
        metainfo._mmhybrid = True
        table[key] = metainfo
        registered.append(metainfo.name)
    if clashes:
        warnings.warn(f'mmhybrid: not registering {clashes} into mmpretrain.ModelHub: '
                      'MMPretrain already has models of these names.')
    _REGISTERED_HUBS.add(id(model_hub))
    return registered


def _register_quietly(model_hub: type) -> None:
    if id(model_hub) in _REGISTERED_HUBS:
        return
    try:
        register_into_mmpretrain(model_hub)
    except Exception as exc:  # never break ``import mmpretrain`` because of our index
        warnings.warn(f'mmhybrid: could not register its models into mmpretrain.ModelHub '
                      f'({type(exc).__name__}: {exc}); mmhybrid.apis.get_model still works.')


class _RegisterAfterExec(importlib.abc.Loader):
    """Wraps the loader of ``mmpretrain.apis.model``: runs it, then registers our models."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        model_hub = getattr(module, 'ModelHub', None)
        if model_hub is not None:
            _register_quietly(model_hub)

    def __getattr__(self, name):  # get_source, get_filename, ... of the wrapped loader
        return getattr(self._loader, name)


class _MMPretrainHubHook(importlib.abc.MetaPathFinder):
    """Import hook that registers our models when ``mmpretrain.apis.model`` gets imported."""

    def find_spec(self, fullname, path, target=None):
        if fullname != _MMPRETRAIN_MODEL_MODULE:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, 'find_spec'):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, 'exec_module'):
            spec.loader = _RegisterAfterExec(spec.loader)
        return spec


def register_into_mmpretrain_lazily() -> None:
    """Make MMPretrain's by-name functions see our classification models, without importing it.

    Registers now when ``mmpretrain.apis.model`` is already imported; otherwise installs (once)
    an import hook in ``sys.meta_path`` that registers right after that module runs. Failures
    are warnings. ``import mmhybrid.apis`` calls this; nothing else in mmhybrid does.
    """
    module = sys.modules.get(_MMPRETRAIN_MODEL_MODULE)
    if module is not None and hasattr(module, 'ModelHub'):
        _register_quietly(module.ModelHub)
        return
    if not any(isinstance(finder, _MMPretrainHubHook) for finder in sys.meta_path):
        sys.meta_path.insert(0, _MMPretrainHubHook())
