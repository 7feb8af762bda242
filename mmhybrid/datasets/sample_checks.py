# Copyright (c) mmhybrid contributors. All rights reserved.
"""The full check: build each split's dataset and decode every sample's files
(:func:`check_dataset`, returning a :class:`DatasetReport`; ``tools/misc/check_dataset.py``
prints it). The config's ``default_scope`` decides which library builds the datasets."""
import copy
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from mmhybrid.utils.progress import progress_bar
from .dataset_cfgs import _get, iter_leaf_dataset_cfgs, segmentation_label_spec
from .errors import DataProblem, DatasetError, format_problems
from .files import inspect_image_file
from .folder_checks import _folder_problems, _folder_spec, _FolderSpec

__all__ = ['DatasetReport', 'check_dataset']


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
