# Copyright (c) mmhybrid contributors. All rights reserved.
"""``ReportDataErrors``: name the sample's files when its pipeline fails, during any run.

``mmhybrid.registry.TRANSFORMS`` is a child (scope ``mmhybrid``) of MMEngine's root
``TRANSFORMS``, where mmcv registers its transforms and of which mmseg's, mmdet's and
mmpretrain's ``TRANSFORMS`` are children too. Any of those libraries therefore builds
``dict(type='mmhybrid.ReportDataErrors', ...)``: a prefixed type is looked up from the root
registry by scope, and the registry's ``locations`` import this package on first use.
"""
import copy
from typing import Any, Iterable, List, Optional, Sequence

import numpy as np

from mmhybrid.registry import TRANSFORMS
from .dataset_cfgs import DATALOADER_KEYS, iter_leaf_dataset_cfgs, segmentation_label_spec
from .errors import DatasetError
from .files import inspect_image_file

#: ``results`` keys naming the sample's files, with how they are called in messages.
_FILE_KEYS = (('img_path', 'image'), ('seg_map_path', 'label map'))


def _transform_name(transform: Any) -> str:
    return type(transform).__name__


def _error_name(exc: BaseException) -> str:
    """``OSError``, ``cv2.error`` (OpenCV's error class is just called ``error``)."""
    module = type(exc).__module__
    name = type(exc).__qualname__
    return name if module in ('builtins', '__main__') else f'{module.split(".")[0]}.{name}'


#: Pillow modes of label files whose values may exceed 8 bits.
_WIDE_LABEL_MODES = ('I', 'I;16', 'I;16B', 'I;16L', 'I;16N', 'F')


def label_file_problem(path: str) -> Optional[str]:
    """What makes a local label file unusable *before* mmseg's ``LoadAnnotations`` loads it.

    ``LoadAnnotations`` casts every label to ``uint8``: a 16-bit value 300 silently becomes
    class 44, and a colour (RGB) label map loads as an H x W x 3 array that fails much later,
    in collation, without naming the file. Only the header is read (the pixels too for 16-bit
    and 32-bit files, to find their largest value). Files that cannot be opened are left to
    the loading transform, whose failure :class:`ReportDataErrors` reports.
    """
    if '://' in path:
        return None
    from PIL import Image
    try:
        with Image.open(path) as image:
            bands = image.getbands()
            if len(bands) > 1:
                return (f'has {len(bands)} channels (mode {image.mode}); a label map holds one '
                        'class index per pixel (an 8-bit L or P mode PNG), not colours')
            if image.mode in _WIDE_LABEL_MODES:
                largest = image.getextrema()[1]
                if largest > 255:
                    return (f'holds values up to {int(largest)} (mode {image.mode}), which do '
                            'not fit 8 bits: mmseg\'s LoadAnnotations casts labels to uint8, '
                            f'so {int(largest)} would train as class {int(largest) % 256}')
    except Exception:  # unreadable: reported by the wrapped pipeline with its own error
        return None
    return None


@TRANSFORMS.register_module()
class ReportDataErrors:
    """Run ``transforms`` and turn any failure into a :class:`DatasetError` naming the files.

    Wraps a dataset's whole pipeline. When a transform raises, the error is re-raised as
    ``DatasetError`` naming the transform, ``img_path`` / ``seg_map_path`` of the sample (each
    inspected: missing, 0 bytes, not an image, truncated) and the original error (chained).

    With ``num_classes`` (segmentation), before the pipeline runs, the label file's header is
    read: a colour label map or a 16-bit value above 255 (which ``LoadAnnotations`` would
    cast to another class) raises ``DatasetError`` naming the file (:func:`label_file_problem`).
    Right after the transform that loads ``gt_seg_map``
    (``LoadAnnotations``, after ``reduce_zero_label``) the label is checked: values outside
    ``[0, num_classes)`` other than ``ignore_index`` raise ``DatasetError`` naming the label
    file, the values and ``num_classes``; a label whose size differs from the loaded image's
    (``ori_shape``) raises too. The check costs one ``np.bincount`` per sample.

    Samples are otherwise untouched: the output is the wrapped pipeline's output.

    Args:
        transforms (list[dict | callable]): the original pipeline, built with mmcv's
            ``Compose`` in the current default scope.
        num_classes (int, optional): the number of classes of segmentation labels.
        ignore_index (int): the label value excluded from the loss. Defaults to 255.
    """

    def __init__(self,
                 transforms: Sequence[Any],
                 num_classes: Optional[int] = None,
                 ignore_index: int = 255) -> None:
        from mmcv.transforms import Compose
        self.pipeline = Compose(list(transforms))
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    @property
    def transforms(self) -> List[Any]:
        return self.pipeline.transforms

    def __call__(self, results: dict) -> Optional[dict]:
        files = {key: results[key] for key, _ in _FILE_KEYS if results.get(key) is not None}
        if self.num_classes is not None and 'seg_map_path' in files:
            problem = label_file_problem(files['seg_map_path'])
            if problem:
                raise DatasetError(f'label map {files["seg_map_path"]} {problem}; image '
                                   f'{files.get("img_path")}')
        label_checked = False
        for transform in self.pipeline.transforms:
            try:
                results = transform(results)
            except DatasetError:
                raise
            except Exception as exc:
                raise DatasetError(self._failure_message(transform, files, exc)) from exc
            if results is None:
                return None
            if (self.num_classes is not None and not label_checked
                    and results.get('gt_seg_map', None) is not None):
                self._check_label(results, files)
                label_checked = True
        return results

    def _failure_message(self, transform: Any, files: dict, exc: Exception) -> str:
        """Which transform failed on which files, what is wrong with them, the original error."""
        parts = []
        for key, what in _FILE_KEYS:
            if key not in files:
                continue
            _, problem = inspect_image_file(files[key])
            parts.append(f'{what} {files[key]}' + (f' ({problem})' if problem else ''))
        sample = ', '.join(parts) if parts else 'a sample without img_path/seg_map_path'
        return (f'{_transform_name(transform)} failed on {sample}: '
                f'{_error_name(exc)}: {str(exc).strip()}')

    def _check_label(self, results: dict, files: dict) -> None:
        """Label values are classes or ``ignore_index``; label size is the image's size."""
        label = np.asarray(results['gt_seg_map'])
        path = files.get('seg_map_path', '<gt_seg_map without seg_map_path>')
        ori_shape = results.get('ori_shape', None)
        if ori_shape is not None and tuple(label.shape[:2]) != tuple(ori_shape[:2]):
            raise DatasetError(
                f'label map {path} is {label.shape[1]}x{label.shape[0]} but its image '
                f'{files.get("img_path")} is {ori_shape[1]}x{ori_shape[0]} (width x height)')
        if label.dtype == np.uint8:
            counts = np.bincount(label.ravel(), minlength=256)
            present = np.flatnonzero(counts)
        else:
            present, counts = np.unique(label, return_counts=True)
            counts = dict(zip(present.tolist(), counts.tolist()))
        bad = [int(v) for v in present
               if (v < 0 or v >= self.num_classes) and v != self.ignore_index]
        if not bad:
            return
        pixels = int(sum(counts[v] for v in bad))
        note = ''
        if results.get('reduce_zero_label', False):
            note = (f' (stored as {[v + 1 for v in bad]} in the file: reduce_zero_label '
                    'subtracts 1 and maps 0 to 255)')
        raise DatasetError(
            f'label map {path} has values {bad}{note} in {pixels} pixels, outside '
            f'[0, {self.num_classes}) and not ignore_index {self.ignore_index} '
            f'(num_classes={self.num_classes}); image {files.get("img_path")}')

    def __repr__(self) -> str:
        inner = ',\n    '.join(repr(t) for t in self.pipeline.transforms)
        return (f'{type(self).__name__}(num_classes={self.num_classes}, '
                f'ignore_index={self.ignore_index}, transforms=[\n    {inner}])')


def _is_wrapped(pipeline: Iterable[Any]) -> bool:
    pipeline = list(pipeline)
    return (len(pipeline) == 1 and hasattr(pipeline[0], 'get')
            and str(pipeline[0].get('type', '')).rsplit('.', 1)[-1] == 'ReportDataErrors')


def wrap_pipelines_with_error_reports(cfg: Any,
                                      dataloader_keys: Sequence[str] = DATALOADER_KEYS) -> int:
    """Wrap every dataset pipeline of ``cfg`` in ``mmhybrid.ReportDataErrors``, in place.

    Each leaf dataset's ``pipeline`` (looking through ``RepeatDataset``/``ConcatDataset``/...
    wrappers; a wrapper's own pipeline, e.g. ``MultiImageMixDataset``'s Mosaic, is left
    alone because its transforms are called one by one) becomes
    ``[dict(type='mmhybrid.ReportDataErrors', transforms=<pipeline>, num_classes=...,
    ignore_index=...)]``. ``num_classes``/``ignore_index`` come from ``model.decode_head``
    (segmentation; see :func:`segmentation_label_spec`), else no label check is made.
    Pipelines already wrapped, empty ones and absent dataloaders are skipped, so calling it
    twice is harmless. Call it after any step that replaces pipelines (e.g. TTA).
    When something was wrapped, ``mmhybrid.datasets`` is added to ``cfg.custom_imports``: the
    prefixed type only resolves once that module is imported, and the config the Runner dumps
    into the work dir must reload without help.

    Returns:
        int: how many pipelines were wrapped (a pipeline shared by two dataloaders counts once).
    """
    num_classes, ignore_index = segmentation_label_spec(cfg)
    wrapped = 0
    for loader_key in dataloader_keys:
        loader = cfg.get(loader_key, None) if hasattr(cfg, 'get') else None
        dataset_cfg = loader.get('dataset', None) if hasattr(loader, 'get') else None
        if dataset_cfg is None:
            continue
        for leaf, _ in iter_leaf_dataset_cfgs(dataset_cfg, f'{loader_key}.dataset'):
            pipeline = leaf.get('pipeline', None)
            if not pipeline or _is_wrapped(pipeline):
                continue
            leaf['pipeline'] = [
                dict(type='mmhybrid.ReportDataErrors', transforms=copy.deepcopy(list(pipeline)),
                     num_classes=num_classes, ignore_index=ignore_index)
            ]
            wrapped += 1
    if wrapped:
        _add_custom_import(cfg, 'mmhybrid.datasets')
    return wrapped


def _add_custom_import(cfg: Any, module: str) -> None:
    """Add ``module`` to ``cfg.custom_imports``, so the config dumped into the work dir
    (reloaded by ``Config.fromfile``) registers ``mmhybrid.ReportDataErrors`` by itself."""
    custom = cfg.get('custom_imports', None) or {}
    imports = custom.get('imports', [])
    imports = [imports] if isinstance(imports, str) else list(imports)
    if module not in imports:
        imports.append(module)
    cfg['custom_imports'] = dict(custom, imports=imports,
                                 allow_failed_imports=custom.get('allow_failed_imports', False))
