# Copyright (c) mmhybrid contributors. All rights reserved.
"""Check a config's datasets before training, naming every bad file or folder and the problem.

Without these checks a bad sample surfaces deep inside the training as an error that names
neither the file nor what is wrong: a 0-byte image or a truncated label PNG as
``'NoneType' object has no attribute 'squeeze'``, a label value outside the classes as
``IndexError: Target 199 is out of bounds`` after some iterations, an empty image folder as
``need at least one array to concatenate``.

* :func:`check_dataset_folders` is cheap (no decoding): the folders and annotation files the
  dataloaders name exist and hold images with the expected suffix.
* :func:`check_dataset` builds each split's dataset and decodes every sample's files; it returns
  a :class:`DatasetReport` (``tools/misc/check_dataset.py`` prints it).

Neither imports mmseg, mmdet or mmpretrain at module import time; the config's
``default_scope`` decides which library builds the datasets.
"""
import copy
import inspect
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from mmhybrid.utils.progress import progress_bar
from .errors import DataProblem, DatasetError, format_problems
from .files import inspect_image_file

__all__ = [
    'DataProblem', 'DatasetError', 'DatasetReport', 'check_dataset', 'check_dataset_folders',
    'DATALOADER_KEYS', 'iter_leaf_dataset_cfgs', 'segmentation_label_spec'
]

#: The dataloaders of an MMEngine config, in the order they are checked.
DATALOADER_KEYS = ('train_dataloader', 'val_dataloader', 'test_dataloader')

#: Image suffixes looked for when the dataset class names none (mmdet, custom datasets).
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp')

#: ``data_prefix`` keys of the image folder (mmseg/mmpretrain, mmdet) and the label folder.
_IMAGE_PREFIX_KEYS = ('img_path', 'img')
_LABEL_PREFIX_KEYS = ('seg_map_path', )

DEFAULT_IGNORE_INDEX = 255


# ----------------------------------------------------------------------------------------------
# Config helpers
# ----------------------------------------------------------------------------------------------
def _get(node: Any, key: str, default: Any = None) -> Any:
    return node.get(key, default) if hasattr(node, 'get') else default


def iter_leaf_dataset_cfgs(dataset_cfg: Any, key: str) -> Iterator[Tuple[Any, str]]:
    """Yield ``(leaf dataset config, its config key)``, looking through dataset wrappers.

    ``ConcatDataset`` nests ``datasets`` (a list), ``RepeatDataset``, ``ClassBalancedDataset``
    and mmdet's ``MultiImageMixDataset`` nest ``dataset``; the key of each leaf is the path to
    fix in the config, e.g. ``train_dataloader.dataset.dataset``.
    """
    if not hasattr(dataset_cfg, 'get'):
        return
    nested = dataset_cfg.get('datasets', None)
    if isinstance(nested, (list, tuple)):
        for index, sub in enumerate(nested):
            yield from iter_leaf_dataset_cfgs(sub, f'{key}.datasets[{index}]')
        return
    nested = dataset_cfg.get('dataset', None)
    if hasattr(nested, 'get') and 'type' in nested:
        yield from iter_leaf_dataset_cfgs(nested, f'{key}.dataset')
        return
    yield dataset_cfg, key


def segmentation_label_spec(cfg: Any) -> Tuple[Optional[int], int]:
    """``(num_classes, ignore_index)`` of the model's decode head (``(None, 255)`` if none).

    ``ignore_index`` is ``decode_head.ignore_index``, else the first ``loss_decode`` entry's
    ``ignore_index``, else 255 (mmseg's default). A list of decode heads (cascade models) uses
    the first one.
    """
    head = _get(_get(cfg, 'model'), 'decode_head')
    if isinstance(head, (list, tuple)):
        head = head[0] if head else None
    if not hasattr(head, 'get'):
        return None, DEFAULT_IGNORE_INDEX
    ignore_index = head.get('ignore_index', None)
    if ignore_index is None:
        losses = head.get('loss_decode', None)
        losses = losses if isinstance(losses, (list, tuple)) else [losses]
        for loss in losses:
            if _get(loss, 'ignore_index') is not None:
                ignore_index = loss['ignore_index']
                break
    if ignore_index is None:
        ignore_index = DEFAULT_IGNORE_INDEX
    return head.get('num_classes', None), int(ignore_index)


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


# ----------------------------------------------------------------------------------------------
# Folder checks (cheap)
# ----------------------------------------------------------------------------------------------
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


# ----------------------------------------------------------------------------------------------
# Full check (decodes every file)
# ----------------------------------------------------------------------------------------------
@dataclass
class DatasetReport:
    """What :func:`check_dataset` found.

    Attributes:
        splits: the splits asked for, in order.
        counts: samples per split (distinct samples: dataset wrappers' repeats not counted).
        checked: samples whose files were decoded per split (fewer with ``max_samples``).
        problems: every problem found, with the file, folder or config key it concerns.
        notes: per split, why it was not checked or that it repeats another split.
    """
    splits: List[str] = field(default_factory=list)
    counts: Dict[str, int] = field(default_factory=dict)
    checked: Dict[str, int] = field(default_factory=dict)
    problems: List[DataProblem] = field(default_factory=list)
    notes: Dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def problems_of(self, split: str) -> List[DataProblem]:
        return [p for p in self.problems if p.split == split]

    def format(self) -> str:
        """Counts per split, then every problem (not truncated)."""
        lines = []
        for split in dict.fromkeys([*self.splits, *self.counts, *self.notes]):
            count = self.counts.get(split)
            line = f'{split}: '
            if count is None:
                line += 'not checked'
            else:
                checked = self.checked.get(split, 0)
                line += f'{count} samples'
                if checked != count:
                    line += f' ({checked} checked)'
                line += f', {len(self.problems_of(split))} problems'
            if split in self.notes:
                line += f' ({self.notes[split]})'
            lines.append(line)
        if self.problems:
            lines.append(f'{len(self.problems)} problems:')
            lines.append(format_problems(self.problems, max_listed=len(self.problems)))
        else:
            lines.append('no problems found')
        return '\n'.join(lines)

    def raise_for_problems(self) -> None:
        """Raise :class:`DatasetError` listing (up to 10 of) the problems, if any."""
        if self.problems:
            raise DatasetError.from_problems(self.problems, 'dataset')


def _leaf_datasets(dataset: Any) -> List[Any]:
    """The ``BaseDataset`` objects inside built dataset wrappers (each once)."""
    from mmengine.dataset import BaseDataset
    if isinstance(dataset, BaseDataset):
        return [dataset]
    leaves = []
    for sub in getattr(dataset, 'datasets', None) or []:
        leaves += _leaf_datasets(sub)
    if getattr(dataset, 'dataset', None) is not None:
        leaves += _leaf_datasets(dataset.dataset)
    return leaves if leaves else [dataset]


def _build_problem(split: str, key: str, exc: Exception,
                   spec: Optional[_FolderSpec]) -> DataProblem:
    """Turn a dataset build error into a problem that names the folder."""
    message = f'{type(exc).__name__}: {exc}'
    if 'need at least one array to concatenate' in str(exc):
        folder = spec.image_folder if spec else key
        return DataProblem(split, folder, (
            f'the dataset found no samples in this folder (data_root + '
            f'{spec.image_prefix_key if spec else "data_prefix"}, ann_file '
            f'{spec.ann_file if spec and spec.ann_file else "unset"}); fix {key}'))
    return DataProblem(split, key, f'building the dataset failed: {message}')


def _sample_checker(dataset: Any, cfg: Any, split: str, backend_args: Optional[dict]):
    """A function ``(data_info) -> [DataProblem]`` for the dataset's task."""
    classes = (getattr(dataset, 'metainfo', None) or {}).get('classes', None)
    num_classes = len(classes) if classes is not None else None
    _, ignore_index = segmentation_label_spec(cfg)

    def check(info: dict) -> List[DataProblem]:
        problems = []
        img_path = info.get('img_path', None)
        image = None
        if img_path is not None:
            image, problem = inspect_image_file(img_path, backend_args)
            if problem:
                problems.append(DataProblem(split, img_path, f'image: {problem}'))
        if info.get('seg_map_path', None) is not None:
            problems += _check_label_map(split, info, image, num_classes, ignore_index,
                                         backend_args)
        if 'gt_label' in info and num_classes is not None:
            labels = np.asarray(info['gt_label']).ravel()
            bad = labels[(labels < 0) | (labels >= num_classes)]
            if bad.size:
                problems.append(DataProblem(split, img_path or '?', (
                    f'gt_label {sorted(set(bad.tolist()))} outside [0, {num_classes}) '
                    f'({num_classes} classes)')))
        return problems

    return check


def _check_label_map(split: str, info: dict, image: Any, num_classes: Optional[int],
                     ignore_index: int, backend_args: Optional[dict]) -> List[DataProblem]:
    """Label PNG decodes, is single-channel, matches the image size, values are classes.

    Values are taken as mmseg's ``LoadAnnotations`` loads them: ``reduce_zero_label`` maps
    0 -> 255 and v -> v - 1, then ``label_map`` renames classes.
    """
    path = info['seg_map_path']
    label, problem = inspect_image_file(path, backend_args, keep_array=True)
    if problem:
        return [DataProblem(split, path, f'label map: {problem}')]
    problems = []
    values = label.array.squeeze()
    if values.ndim != 2:
        return [DataProblem(split, path, (
            f'label map has shape {label.array.shape}; expected one channel of class indices '
            '(an L or P mode PNG, not a colour image)'))]
    if image is not None and label.size not in image.loaded_sizes():
        problems.append(DataProblem(split, path, (
            f'label map is {label.size[0]}x{label.size[1]} but its image '
            f'{info.get("img_path")} is {image.size[0]}x{image.size[1]} (width x height)')))
    if values.max(initial=0) > 255:
        problems.append(DataProblem(split, path, (
            f'label values up to {int(values.max())} do not fit uint8 (mmseg casts to uint8)')))
    if num_classes is None:
        return problems
    stored = values.astype(np.uint8)
    loaded = stored.copy()
    reduce_zero_label = bool(info.get('reduce_zero_label', False))
    if reduce_zero_label:
        loaded[stored == 0] = 255
        loaded = loaded - 1
        loaded[loaded == 254] = 255
    label_map = info.get('label_map', None)
    if label_map:
        renamed = loaded.copy()
        for old_id, new_id in label_map.items():
            renamed[loaded == old_id] = new_id
        loaded = renamed
    bad = _invalid_label_values(loaded, num_classes, ignore_index)
    if bad:
        stored_note = ''
        if reduce_zero_label:
            stored_note = (f' (stored as {[v + 1 for v in bad]}; reduce_zero_label subtracts 1 '
                           'and maps 0 to 255)')
        problems.append(DataProblem(split, path, (
            f'label values {bad}{stored_note} outside [0, {num_classes}) and not '
            f'ignore_index {ignore_index} (num_classes={num_classes})')))
    return problems


def _invalid_label_values(label: np.ndarray, num_classes: int, ignore_index: int) -> List[int]:
    """Sorted values of ``label`` that are neither a class index nor ``ignore_index``."""
    if label.dtype == np.uint8:
        present = np.flatnonzero(np.bincount(label.ravel(), minlength=256))
    else:
        present = np.unique(label)
    return [int(v) for v in present if (v < 0 or v >= num_classes) and v != ignore_index]


def _backend_args(dataset_cfg: Any) -> Optional[dict]:
    """``backend_args`` of the dataset or of its pipeline's first loading transform."""
    if _get(dataset_cfg, 'backend_args') is not None:
        return dict(dataset_cfg['backend_args'])
    for transform in _get(dataset_cfg, 'pipeline', None) or []:
        if _get(transform, 'backend_args') is not None:
            return dict(transform['backend_args'])
    return None


def _check_split(cfg: Any, split: str, report: DatasetReport, max_samples: Optional[int],
                 progress: bool) -> None:
    """Build ``{split}_dataloader.dataset`` and scan every (or the first N) sample's files."""
    from mmengine.registry import DATASETS
    loader_key = f'{split}_dataloader'
    dataset_cfg = _get(_get(cfg, loader_key), 'dataset')
    scope = _get(cfg, 'default_scope')
    specs = {}
    folder_problems = []
    for leaf, key in iter_leaf_dataset_cfgs(dataset_cfg, f'{loader_key}.dataset'):
        spec = _folder_spec(leaf, key, scope)
        specs[key] = spec
        if spec is not None:
            folder_problems += _folder_problems(split, spec)
    if folder_problems:
        report.problems += folder_problems
        report.notes[split] = 'not built: fix its folders first'
        return
    try:
        dataset = DATASETS.build(copy.deepcopy(dataset_cfg))
        leaves = _leaf_datasets(dataset)
        for leaf in leaves:  # lazy_init=True datasets read their annotations here
            if hasattr(leaf, 'full_init'):
                leaf.full_init()
        lengths = [len(leaf) for leaf in leaves]
    except Exception as exc:  # the error becomes a report entry naming the config key
        spec = next(iter(specs.values()), None) if len(specs) == 1 else None
        report.problems.append(_build_problem(split, f'{loader_key}.dataset', exc, spec))
        report.notes[split] = 'could not be built'
        return
    leaf_cfgs = [leaf for leaf, _ in iter_leaf_dataset_cfgs(dataset_cfg, loader_key)]
    report.counts[split] = sum(lengths)
    report.checked[split] = 0
    if report.counts[split] == 0:
        report.problems.append(DataProblem(split, f'{loader_key}.dataset', (
            'the dataset has no samples (check data_root, data_prefix, ann_file, indices)')))
        return
    for index, leaf in enumerate(leaves):
        leaf_cfg = leaf_cfgs[index] if len(leaf_cfgs) == len(leaves) else dataset_cfg
        check = _sample_checker(leaf, cfg, split, _backend_args(leaf_cfg))
        total = len(leaf) if max_samples is None else min(len(leaf), max_samples)
        with progress_bar(total=total, desc=f'checking {split} ({type(leaf).__name__})',
                          unit='sample', progress=progress and total > 0) as bar:
            for sample_index in range(total):
                report.problems += check(leaf.get_data_info(sample_index))
                report.checked[split] += 1
                bar.update(1)


def check_dataset(cfg: Any,
                  splits: Sequence[str] = ('train', 'val', 'test'),
                  max_samples: Optional[int] = None,
                  progress: bool = True) -> DatasetReport:
    """Build each split's dataset and check every sample's files; return a report.

    Per split (``{split}_dataloader.dataset``; absent or None dataloaders are noted and
    skipped, a split whose dataset config equals an earlier split's is not scanned twice):

    * the folders and ann_file exist and hold files with the image suffix (see
      :func:`check_dataset_folders`); otherwise the split is not built;
    * the dataset builds (an error is reported with the config key; "no samples" names the
      folder) and has at least one sample;
    * each sample's image exists, is not empty (0 bytes), is an image, decodes completely;
    * segmentation: the label map likewise, is single-channel, has the image's size, and its
      values (after the dataset's ``reduce_zero_label`` and ``label_map``) are in
      ``[0, num_classes)`` or ``ignore_index``; ``num_classes`` is the number of the dataset's
      classes, ``ignore_index`` the decode head's (default 255);
    * classification: ``gt_label`` is in ``[0, num_classes)``.

    Args:
        cfg: an MMEngine ``Config`` (its ``default_scope`` picks mmseg/mmdet/mmpretrain).
        splits: which dataloaders to check.
        max_samples: check only the first N samples of each dataset (all when None).
        progress: a progress bar per dataset on stderr, when it is a terminal
            (:func:`mmhybrid.utils.progress.progress_bar`).
    """
    from mmengine.registry import init_default_scope

    import mmhybrid.datasets  # noqa: F401  (pipelines may name mmhybrid transforms)
    if _get(cfg, 'default_scope') is not None:
        init_default_scope(cfg['default_scope'])
    report = DatasetReport()
    seen = {}
    for split in splits:
        report.splits.append(split)
        dataset_cfg = _get(_get(cfg, f'{split}_dataloader'), 'dataset')
        if dataset_cfg is None:
            report.notes[split] = f'no {split}_dataloader.dataset in the config'
            continue
        earlier = next((s for s, c in seen.items() if c == dataset_cfg), None)
        if earlier is not None:
            report.notes[split] = f'same dataset as {earlier}, checked there'
            if earlier in report.counts:
                report.counts[split] = report.counts[earlier]
                report.checked[split] = report.checked[earlier]
            continue
        seen[split] = dataset_cfg
        _check_split(cfg, split, report, max_samples, progress)
    return report
