# Copyright (c) mmhybrid contributors. All rights reserved.
"""The cheap check: the folders and annotation files a config's dataloaders name exist and hold
images with the expected suffix (:func:`check_dataset_folders`; nothing is decoded)."""
import inspect
import os
import os.path as osp
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Tuple

from .dataset_cfgs import DATALOADER_KEYS, _get, iter_leaf_dataset_cfgs
from .errors import DataProblem, DatasetError

__all__ = ['check_dataset_folders', 'find_folder_problems']

#: Image suffixes looked for when the dataset class names none (mmdet, custom datasets).
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp')

#: ``data_prefix`` keys of the image folder (mmseg/mmpretrain, mmdet) and the label folder.
_IMAGE_PREFIX_KEYS = ('img_path', 'img')
_LABEL_PREFIX_KEYS = ('seg_map_path', )


def _resolve_dataset_class(dataset_cfg: Any, scope: Optional[str]) -> Optional[type]:
    """The class of ``dataset_cfg['type']`` (no default scope needed), or None."""
    type_ = _get(dataset_cfg, 'type')
    if isinstance(type_, type):
        return type_
    if not isinstance(type_, str):
        return None
    from mmengine.registry import DATASETS
    name = type_ if '.' in type_ or not scope else f'{scope}.{type_}'
    try:
        return DATASETS.get(name)
    except Exception:  # an uninstalled library or a typo: the build reports it
        return None


def _class_default(cls: Optional[type], name: str, default: Any = None) -> Any:
    """Default of ``__init__`` argument ``name`` in ``cls`` or its bases (first that has it)."""
    for klass in getattr(cls, '__mro__', ()):
        init = klass.__dict__.get('__init__')
        if init is None:
            continue
        try:
            parameter = inspect.signature(init).parameters.get(name)
        except (TypeError, ValueError):
            continue
        if parameter is not None and parameter.default is not inspect.Parameter.empty:
            return parameter.default
    return default


def _join(data_root: str, prefix: str) -> str:
    """``data_root`` + ``prefix`` as MMEngine's ``BaseDataset`` joins them."""
    if not prefix:
        return data_root
    if osp.isabs(prefix) or not data_root or '://' in prefix:
        return prefix
    return osp.join(data_root, prefix)


@dataclass
class _FolderSpec:
    """Where one leaf dataset reads from, with the config keys that set it."""
    key: str
    data_root: str
    image_prefix_key: str
    image_folder: str
    image_suffixes: Tuple[str, ...]
    suffix_key: str
    case_sensitive: bool
    label_folder: str = ''
    label_prefix_key: str = ''
    label_suffix: str = ''
    ann_file: str = ''


def _folder_spec(dataset_cfg: Any, key: str, scope: Optional[str]) -> Optional[_FolderSpec]:
    """Read data_root, data_prefix, suffixes and ann_file of a leaf dataset config."""
    cls = _resolve_dataset_class(dataset_cfg, scope)
    data_root = dataset_cfg.get('data_root', _class_default(cls, 'data_root', '')) or ''
    prefix = dataset_cfg.get('data_prefix', _class_default(cls, 'data_prefix', None))
    if isinstance(prefix, str):  # mmpretrain accepts a plain folder
        prefix = dict(img_path=prefix)
    prefix = dict(prefix or {})
    split = dataset_cfg.get('split', '') or ''
    if split and not any(prefix.get(k) for k in _IMAGE_PREFIX_KEYS):
        prefix['img_path'] = split  # mmpretrain ImageNet(split='train') reads <data_root>/train
    image_key = next((k for k in _IMAGE_PREFIX_KEYS if k in prefix), 'img_path')
    if '://' in str(data_root) or any('://' in str(v) for v in prefix.values()):
        return None  # remote storage: not checked without decoding
    backend = (dataset_cfg.get('backend_args', None) or {}).get('backend', 'local')
    if backend != 'local':
        return None
    img_suffix = dataset_cfg.get('img_suffix', _class_default(cls, 'img_suffix', None))
    if img_suffix:  # mmseg: exact (case-sensitive) suffix
        suffixes, suffix_key, case_sensitive = (img_suffix, ), 'img_suffix', True
    else:
        extensions = dataset_cfg.get('extensions', _class_default(cls, 'extensions', None))
        suffixes = tuple(extensions or getattr(cls, 'IMG_EXTENSIONS', None) or IMAGE_EXTENSIONS)
        suffix_key, case_sensitive = 'extensions', False
    spec = _FolderSpec(key, str(data_root), f'data_prefix.{image_key}',
                       _join(str(data_root), str(prefix.get(image_key, '') or '')),
                       tuple(suffixes), suffix_key, case_sensitive)
    label_key = next((k for k in _LABEL_PREFIX_KEYS if prefix.get(k)), None)
    if label_key:
        spec.label_folder = _join(str(data_root), str(prefix[label_key]))
        spec.label_prefix_key = f'data_prefix.{label_key}'
        spec.label_suffix = dataset_cfg.get(
            'seg_map_suffix', _class_default(cls, 'seg_map_suffix', '')) or ''
    ann_file = dataset_cfg.get('ann_file', _class_default(cls, 'ann_file', '')) or ''
    if ann_file:
        spec.ann_file = _join(str(data_root), str(ann_file))
    return spec


def _find_file_with_suffix(folder: str, suffixes: Sequence[str],
                           case_sensitive: bool) -> Tuple[bool, Optional[str], int]:
    """Walk ``folder`` recursively until a file with one of ``suffixes`` turns up.

    Returns ``(found, an example of another file, number of other files seen)``.
    """
    wanted = tuple(suffixes) if case_sensitive else tuple(s.lower() for s in suffixes)
    other_example, others = None, 0
    for root, _, files in os.walk(folder, followlinks=True):
        for name in files:
            if (name if case_sensitive else name.lower()).endswith(wanted):
                return True, None, others
            others += 1
            other_example = other_example or osp.relpath(osp.join(root, name), folder)
    return False, other_example, others


def _missing_folder_problem(split: str, folder: str, spec: _FolderSpec, prefix_key: str,
                            what: str) -> DataProblem:
    if spec.data_root and not osp.isdir(spec.data_root):
        return DataProblem(split, spec.data_root, (
            f'data_root does not exist (it should contain the {what}); '
            f'fix {spec.key}.data_root'))
    return DataProblem(split, folder, (
        f'{what} folder does not exist (data_root={spec.data_root!r} + {prefix_key}); '
        f'fix {spec.key}.data_root or {spec.key}.{prefix_key}'))


def _no_files_problem(split: str, folder: str, spec: _FolderSpec, prefix_key: str,
                      suffixes: Sequence[str], suffix_key: str, what: str, example: Optional[str],
                      others: int) -> DataProblem:
    pattern = ', '.join(f"'*{s}'" for s in suffixes)
    if others:
        found = f'it holds {others} other file{"s" if others != 1 else ""}, e.g. {example!r}'
        fix = (f'fix {spec.key}.{suffix_key} if they are the {what}, else '
               f'{spec.key}.{prefix_key}')
    else:
        found = 'it is empty'
        fix = f'put the {what} there or fix {spec.key}.data_root / {spec.key}.{prefix_key}'
    return DataProblem(split, folder, (
        f'no {what} ({pattern}, searched recursively) in the {what} folder: {found}; {fix}'))


def _folder_problems(split: str, spec: _FolderSpec) -> List[DataProblem]:
    """Check one leaf dataset's folders and ann_file (existence and a matching file only)."""
    problems = []
    if spec.ann_file and not osp.exists(spec.ann_file):
        problems.append(DataProblem(split, spec.ann_file, (
            f'annotation file does not exist; fix {spec.key}.ann_file '
            f'(relative to data_root={spec.data_root!r})')))
    checks = [(spec.image_folder, spec.image_prefix_key, spec.image_suffixes, spec.suffix_key,
               spec.case_sensitive, 'images')]
    if spec.label_folder:
        checks.append((spec.label_folder, spec.label_prefix_key,
                       (spec.label_suffix, ) if spec.label_suffix else IMAGE_EXTENSIONS,
                       'seg_map_suffix', bool(spec.label_suffix), 'label maps'))
    for folder, prefix_key, suffixes, suffix_key, case_sensitive, what in checks:
        if not folder:
            continue
        if not osp.isdir(folder):
            problems.append(_missing_folder_problem(split, folder, spec, prefix_key, what))
            if spec.data_root and not osp.isdir(spec.data_root):
                break  # one problem for the missing data_root, not one per folder
            continue
        found, example, others = _find_file_with_suffix(folder, suffixes, case_sensitive)
        if not found:
            problems.append(_no_files_problem(split, folder, spec, prefix_key, suffixes,
                                              suffix_key, what, example, others))
    return problems


def _split_of(dataloader_key: str) -> str:
    return dataloader_key[:-len('_dataloader')]


def _dataloader_dataset_cfgs(cfg: Any, dataloader_keys: Sequence[str]):
    """``(split, leaf dataset config, config key)`` of every dataloader that has a dataset."""
    for loader_key in dataloader_keys:
        dataset_cfg = _get(_get(cfg, loader_key), 'dataset')
        if dataset_cfg is None:
            continue
        for leaf, key in iter_leaf_dataset_cfgs(dataset_cfg, f'{loader_key}.dataset'):
            yield _split_of(loader_key), leaf, key


def find_folder_problems(cfg: Any,
                         dataloader_keys: Sequence[str] = DATALOADER_KEYS) -> List[DataProblem]:
    """The problems :func:`check_dataset_folders` raises for, as a list (possibly empty)."""
    scope = _get(cfg, 'default_scope')
    problems, seen = [], set()
    for split, leaf, key in _dataloader_dataset_cfgs(cfg, dataloader_keys):
        spec = _folder_spec(leaf, key, scope)
        if spec is None:
            continue
        for problem in _folder_problems(split, spec):
            if (problem.path, problem.problem) not in seen:  # test_dataloader = val_dataloader
                seen.add((problem.path, problem.problem))
                problems.append(problem)
    return problems


def check_dataset_folders(cfg: Any,
                          dataloader_keys: Sequence[str] = DATALOADER_KEYS) -> None:
    """Cheaply check the data folders of every dataloader in ``cfg`` (nothing is decoded).

    For each dataset (looking through ``RepeatDataset``/``ConcatDataset``/... wrappers):

    * ``data_root`` + ``data_prefix`` image folder exists and holds, at any depth, at least one
      file with the dataset's image suffix (``img_suffix`` for mmseg, ``extensions`` or the
      common image extensions otherwise);
    * the label folder (``data_prefix.seg_map_path``) likewise, with ``seg_map_suffix``;
    * ``ann_file``, when set, exists.

    Remote paths (``s3://`` ...) and non-local ``backend_args`` are skipped. Dataloaders that are
    None or absent are skipped.

    Raises:
        DatasetError: naming each bad folder or file, what was expected, and the config key to
            fix (e.g. ``train_dataloader.dataset.data_root``).
    """
    problems = find_folder_problems(cfg, dataloader_keys)
    if problems:
        raise DatasetError.from_problems(problems, 'dataset folders')
