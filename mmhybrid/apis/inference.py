# Copyright (c) mmhybrid contributors. All rights reserved.
"""Build and run the project's models by metafile name or config path, for every task.

* :func:`get_model` builds the model of a name or config in the config's ``default_scope``
  (``mmpretrain``, ``mmseg`` or ``mmdet``) with mmhybrid's classes registered, loads weights
  strictly, and attaches ``cfg`` and ``dataset_meta`` (classes, palette), in eval mode.
* :class:`Inferencer` wraps the task library's own inferencer (``ImageClassificationInferencer``,
  ``MMSegInferencer`` or ``DetInferencer``) chosen by the config's ``default_scope``, and draws
  the predictions into ``out_dir/vis``.
* :func:`inference_model` is the one-call form of :class:`Inferencer`.

Heavy libraries (torch, MMEngine's runner, the task libraries) are imported inside the
functions, so ``import mmhybrid.apis`` stays cheap.
"""
import contextlib
import copy
import importlib
import logging
import os
import os.path as osp
import re
import warnings
from typing import Any, Dict, Optional, Union

from .model_index import resolve_model

__all__ = ['FETCH_COMMAND', 'get_model', 'load_weights', 'Inferencer', 'inference_model']

#: The command that downloads and converts the authors' released weights.
FETCH_COMMAND = 'python tools/model_converters/fetch_official.py'

#: The inferencer of each task library (``default_scope``), as ``(module, class name)``.
_INFERENCERS = {
    'mmpretrain': ('mmpretrain.apis', 'ImageClassificationInferencer'),
    'mmseg': ('mmseg.apis', 'MMSegInferencer'),
    'mmdet': ('mmdet.apis', 'DetInferencer'),
}
#: Warnings the task libraries print when built without weights; mmhybrid loads the weights
#: itself (strictly) right after, and warns once if there are none.
_RANDOM_WEIGHT_WARNINGS = (r'Checkpoint is not loaded', r'weights is None')
#: The ``dataset_meta`` keys a task library's visualizer accepts, where it accepts only some:
#: ``MMSegInferencer.visualize`` calls
#: ``SegLocalVisualizer.set_dataset_meta(**model.dataset_meta)``, whose only arguments are
#: ``classes``, ``palette`` and ``dataset_name``; every mmseg dataset's ``metainfo`` (which
#: ``tools/train.py`` saves in the checkpoint as ``meta['dataset_meta']``) also holds
#: ``label_map`` and ``reduce_zero_label``, so drawing with a trained checkpoint failed with
#: ``unexpected keyword argument 'label_map'``. mmseg's own weight loading keeps exactly these
#: two keys as well.
_DRAWN_META_KEYS = {'mmseg': ('classes', 'palette')}


def _load_config(name_or_config, cfg_options: Optional[dict] = None):
    """``(config, metafile entry or None, display name)`` of a name, a config path or a
    ``Config``."""
    from mmengine.config import Config

    if isinstance(name_or_config, Config):
        cfg, entry = copy.deepcopy(name_or_config), None
        name = osp.splitext(osp.basename(cfg.filename or 'model'))[0]
    else:
        path, entry = resolve_model(name_or_config)
        cfg = Config.fromfile(path)
        name = entry.name if entry is not None else osp.splitext(osp.basename(path))[0]
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg, entry, name


def _resolve_weights(pretrained, entry, name: str) -> Optional[str]:
    """``None``/``False`` -> no weights; ``True`` -> the metafile's ``Weights`` (else a clear
    error naming the fetch command); a string -> itself."""
    if pretrained is None or pretrained is False:
        return None
    if pretrained is not True:
        return os.fspath(pretrained)
    if entry is not None and entry.weights:
        return entry.weights
    where = f'the metafile entry {name!r}' if entry is not None else f'the config {name!r}'
    config = entry.config if entry is not None else 'CONFIG'
    raise FileNotFoundError(f'No hosted weights for {where} (pretrained=True). '
                            f'{_weights_hint(name, config)}')


def _weights_hint(name: str, config: str = 'CONFIG') -> str:
    """How to get weights for ``name``: the exact fetch command, the training command where
    the authors released none, else the fetch script's listing."""
    generic = (f'No authors\' release is known for it (`{FETCH_COMMAND} --list` lists those '
               'that can be fetched and converted): train it with `python tools/train.py '
               f'{config}` and pass the checkpoint (--weights in demo/image_demo.py).')
    try:
        from mmhybrid.apis.official_weights import NO_RELEASED_WEIGHTS, default_catalog
        catalog = default_catalog()
    except Exception:  # noqa: BLE001 - the catalog is optional for this message
        return generic
    if name in catalog:
        output = f'checkpoints/{catalog[name].output}'
        return (f'Fetch and convert the authors\' weights with `{FETCH_COMMAND} {name}` '
                f'(writes {output}), then pass pretrained={output!r} '
                f'(--weights {output} in demo/image_demo.py).')
    if name in NO_RELEASED_WEIGHTS:
        missing = NO_RELEASED_WEIGHTS[name]
        return (f'The authors released no weights for it ({missing.reason.rstrip(".")}); '
                f'train them with `{missing.train_command}` and pass the checkpoint.')
    return generic


def load_weights(model, source: str) -> dict:
    """Load ``source`` into ``model`` strictly (every key and shape must match).

    Args:
        model (nn.Module): The built model.
        source (str): A checkpoint path or URL.

    Returns:
        dict: the checkpoint (its ``meta`` may hold ``dataset_meta``).

    Raises:
        CheckpointMismatchError: the checkpoint does not fit; the message names the keys.
    """
    from mmengine.runner import load_state_dict

    from mmhybrid.utils.state_dict import (
        check_checkpoint_fits,
        checkpoint_state_dict,
        read_checkpoint,
    )

    checkpoint = read_checkpoint(source)
    check_checkpoint_fits(
        model, source, checkpoint=checkpoint,
        fix='Pass a checkpoint trained with this config, or convert the authors\' weights with '
        f'`{FETCH_COMMAND}` / tools/model_converters/.')
    load_state_dict(model, checkpoint_state_dict(checkpoint), strict=True)
    return checkpoint


def _unwrap_dataset(dataset_cfg):
    """The innermost dataset config of wrappers (``RepeatDataset``, ``ConcatDataset``, ...)."""
    while isinstance(dataset_cfg, dict):
        if isinstance(dataset_cfg.get('dataset'), dict):
            dataset_cfg = dataset_cfg['dataset']
        elif isinstance(dataset_cfg.get('datasets'), (list, tuple)) and dataset_cfg['datasets']:
            dataset_cfg = dataset_cfg['datasets'][0]
        else:
            break
    return dataset_cfg


def _dataset_meta(cfg, scope: str, checkpoint: Optional[dict]) -> dict:
    """Classes and palette: from the checkpoint's ``meta`` if saved there, else from the test
    dataset's ``METAINFO`` (with the config's ``metainfo`` overrides)."""
    meta = (checkpoint or {}).get('meta') or {}
    if isinstance(meta.get('dataset_meta'), dict):
        return {k.lower(): v for k, v in meta['dataset_meta'].items()}
    if 'CLASSES' in meta:
        return dict(classes=meta['CLASSES'], palette=meta.get('PALETTE'))
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader') or {}
    dataset_cfg = _unwrap_dataset(loader.get('dataset') if isinstance(loader, dict) else None)
    if not isinstance(dataset_cfg, dict) or 'type' not in dataset_cfg:
        return {}
    dataset_type = dataset_cfg['type']
    if isinstance(dataset_type, str):
        from mmengine.registry import DefaultScope
        registry = importlib.import_module(f'{scope}.registry').DATASETS
        with DefaultScope.overwrite_default_scope(scope):
            dataset_type = registry.get(dataset_type)
    dataset_meta = copy.deepcopy(dict(getattr(dataset_type, 'METAINFO', {}) or {}))
    dataset_meta.update(copy.deepcopy(dict(dataset_cfg.get('metainfo') or {})))
    return dataset_meta


def _drawable_meta(scope: str, dataset_meta: dict) -> dict:
    """``dataset_meta`` restricted to what the task library's visualizer accepts
    (:data:`_DRAWN_META_KEYS`); for mmseg a missing palette, or one of another length than the
    classes (the visualizer asserts equal lengths), is replaced by a fixed random one."""
    keys = _DRAWN_META_KEYS.get(scope)
    if keys is None or not isinstance(dataset_meta, dict):
        return dataset_meta
    meta = {key: dataset_meta[key] for key in keys if dataset_meta.get(key) is not None}
    classes = meta.get('classes')
    if scope == 'mmseg' and classes and len(meta.get('palette') or ()) != len(classes):
        import numpy as np
        rng = np.random.RandomState(42)  # mmseg's BaseSegDataset seeds its palette alike
        meta['palette'] = rng.randint(0, 255, size=(len(classes), 3)).tolist()
    return meta


def _attach(model, cfg, scope: str, dataset_meta: dict, name: str) -> None:
    """What the task libraries' inferencers and visualizers read from a model."""
    dataset_meta = _drawable_meta(scope, dataset_meta)
    model.cfg = cfg
    model.dataset_meta = dataset_meta
    if scope == 'mmpretrain':  # mmpretrain.get_model's attributes, read by its inferencers
        model._config = cfg
        model._dataset_meta = dataset_meta
        hub = importlib.import_module('mmpretrain.apis.model').ModelHub
        metainfo = hub._models_dict.get(name.lower())
        model._metainfo = copy.deepcopy(metainfo) if metainfo is not None else None


def initialise_like_training(model) -> None:
    """``model.init_weights()`` as a training run calls it, without reading ``Pretrained``
    files: a model built without weights gets its modules' own initialisation (e.g. a
    detector's classification bias for a prior of 0.01, so random detections score about 0.01,
    not 1.0 everywhere) instead of PyTorch's defaults."""
    from mmhybrid.tasks import quiet_mmengine_logger

    for module in model.modules():
        init_cfg = getattr(module, 'init_cfg', None)
        if isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained':
            module.init_cfg = None
        elif isinstance(init_cfg, list):
            module.init_cfg = [c for c in init_cfg if c.get('type') != 'Pretrained'] or None
    with quiet_mmengine_logger():
        model.init_weights()


def _weights_and_meta(model, cfg, scope: str, weights: Optional[str], name: str) -> None:
    checkpoint = None
    if weights is not None:
        checkpoint = load_weights(model, weights)
    else:
        initialise_like_training(model)
        warnings.warn(f'mmhybrid: {name} has no weights loaded; its predictions come from a '
                      'randomly initialised model (initialised as training starts, without '
                      'the ImageNet weights).')
    _attach(model, cfg, scope, _dataset_meta(cfg, scope, checkpoint), name)


def get_model(name_or_config, pretrained: Union[None, bool, str] = None,
              device: str = 'cpu', *, cfg_options: Optional[dict] = None):
    """Build a model by metafile name or from a config, optionally with weights.

    Args:
        name_or_config (str | PathLike | Config): A metafile name (``list_models()``), a config
            path (also ``configs/...py`` relative to the project) or a ``Config``.
        pretrained (None | bool | str): ``None``/``False``: random weights. A path or URL:
            loaded strictly (every key and shape must match). ``True``: the metafile's hosted
            weights; an error naming ``tools/model_converters/fetch_official.py`` if there are
            none.
        device (str): Where to put the model.
        cfg_options (dict, optional): Overrides merged into the config first.

    Returns:
        BaseModel: in eval mode, with ``model.cfg`` (the config) and ``model.dataset_meta``
        (``classes``/``palette`` from the checkpoint, else from the config's test dataset).
        ``backbone.init_cfg`` pretrained files are not read and SyncBN is built as BN.

    Example:
        >>> import torch
        >>> from mmhybrid.apis import get_model
        >>> model = get_model('topformer-t_8xb128_in1k')
        >>> model(torch.rand(1, 3, 224, 224), mode='tensor').shape  # logits (N, 1000)
        torch.Size([1, 1000])
    """
    from mmengine.registry import DefaultScope

    from mmhybrid.tasks import plain_model_cfg
    from mmhybrid.tasks.scope import task_scope

    cfg, entry, name = _load_config(name_or_config, cfg_options)
    weights = _resolve_weights(pretrained, entry, name)
    scope = task_scope(cfg)  # imports the library and registers mmhybrid's models
    model_cfg = plain_model_cfg(cfg.model)
    if model_cfg.get('data_preprocessor') is None and cfg.get('data_preprocessor') is not None:
        model_cfg['data_preprocessor'] = copy.deepcopy(cfg.data_preprocessor)
    if scope == 'mmseg':
        model_cfg['train_cfg'] = None
    registry = importlib.import_module(f'{scope}.registry').MODELS
    with DefaultScope.overwrite_default_scope(scope):
        model = registry.build(model_cfg)
        _weights_and_meta(model, cfg, scope, weights, name)
    model.to(device)
    model.eval()
    return model


def _as_list(value, count: int) -> list:
    if value is None:
        return []
    if count == 1 and not isinstance(value, list):
        return [value]
    return list(value)


def _snapshot(folder: str) -> Dict[str, int]:
    if not osp.isdir(folder):
        return {}
    return {
        osp.join(folder, f): os.stat(osp.join(folder, f)).st_mtime_ns
        for f in os.listdir(folder) if osp.isfile(osp.join(folder, f))
    }


class _DropMessages(logging.Filter):
    """A logging filter that drops the records whose message matches ``pattern``."""

    def __init__(self, pattern: str):
        super().__init__()
        self.pattern = re.compile(pattern)

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.pattern.search(record.getMessage())


@contextlib.contextmanager
def _without_function_registry_fallback_warning():
    """Silence MMEngine's 'Failed to search registry with scope "mmseg" in the "function"
    registry tree' WARNING while an inferencer is built: mmseg has no ``FUNCTIONS`` registry,
    so the collate function comes from MMEngine's, which is the right one; the warning (on
    stdout, for every segmentation call) announces a fallback that is correct."""
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    quiet = _DropMessages(r'Failed to search registry with scope "\w+" in the "function" '
                          'registry tree')
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


class Inferencer:
    """Run a classification, segmentation or detection model of mmhybrid on images.

    The config's ``default_scope`` picks MMPretrain's ``ImageClassificationInferencer``,
    MMSegmentation's ``MMSegInferencer`` or MMDetection's ``DetInferencer``; weights are loaded
    strictly by mmhybrid and ``dataset_meta`` comes from the checkpoint or the config's dataset.

    Args:
        model (str | PathLike | Config | BaseModel): A metafile name, a config path, a
            ``Config``, or a model returned by :func:`get_model`.
        weights (None | bool | str): A checkpoint path or URL; ``True``: the metafile's hosted
            weights (error naming the fetch command if none); ``None``: the metafile's hosted
            weights if any, else random weights (with a warning).
        device (str): ``'cpu'``, ``'cuda'``, ``'cuda:1'``, ...
        cfg_options (dict, optional): Overrides merged into the config, e.g.
            ``{'test_dataloader.dataset.pipeline.1.scale': (512, 256)}`` for a smaller test scale.
        show_progress (bool): The task library's progress bar.

    Example:
        >>> from matplotlib.cbook import get_sample_data
        >>> from mmhybrid.apis import Inferencer
        >>> image = get_sample_data('grace_hopper.jpg', asfileobj=False)
        >>> inferencer = Inferencer('topformer_t_ade20k')  # random weights: warns
        >>> result = inferencer(image, out_dir='outputs')
        >>> result['predictions'][0].shape  # class index per pixel, (H, W) of the image
        (600, 512)
        >>> result['out_files']
        ['outputs/vis/grace_hopper.jpg']
    """

    def __init__(self, model, weights: Union[None, bool, str] = None, device: str = 'cpu',
                 cfg_options: Optional[dict] = None, show_progress: bool = False):
        from mmengine.model import BaseModel

        built = model if isinstance(model, BaseModel) else None
        if built is not None:
            if getattr(built, 'cfg', None) is None:
                raise ValueError('A model passed to Inferencer needs its config as model.cfg '
                                 '(mmhybrid.apis.get_model sets it).')
            cfg, entry, name = _load_config(built.cfg, cfg_options)
        else:
            cfg, entry, name = _load_config(model, cfg_options)
        from mmhybrid.tasks.scope import task_scope
        self.scope = task_scope(cfg)
        self.name = name
        self.task = {'mmpretrain': 'classification', 'mmseg': 'segmentation',
                     'mmdet': 'detection'}[self.scope]
        if weights is None and built is None and entry is not None and entry.weights:
            weights = True
        weights = None if built is not None else _resolve_weights(weights, entry, name)

        module_name, class_name = _INFERENCERS[self.scope]
        inferencer_class = getattr(importlib.import_module(module_name), class_name)
        from mmengine.registry import DefaultScope
        # The libraries build pipelines in the *current* default scope, which is process-global
        # (another library's inferencer may have set it): pin it to this config's scope.
        with DefaultScope.overwrite_default_scope(self.scope), \
                _without_function_registry_fallback_warning():
            self._build(inferencer_class, built, cfg, weights, device, name)
        if hasattr(self.inferencer, 'show_progress'):
            self.inferencer.show_progress = show_progress
        self.model = self.inferencer.model
        self.cfg = cfg

    def _build(self, inferencer_class, built, cfg, weights, device, name) -> None:
        if self.scope == 'mmpretrain':
            if built is None:
                built = get_model(cfg, pretrained=weights, device=device)
            self.inferencer = inferencer_class(built, pretrained=False, device=device)
        else:
            from mmhybrid.tasks import plain_model_cfg
            lib_cfg = copy.deepcopy(cfg)
            lib_cfg.model = plain_model_cfg(lib_cfg.model)
            with warnings.catch_warnings():
                for message in _RANDOM_WEIGHT_WARNINGS:
                    warnings.filterwarnings('ignore', message=message)
                self.inferencer = inferencer_class(
                    model=lib_cfg, weights=None, device=device, scope=self.scope)
            if built is not None:
                if getattr(built, 'dataset_meta', None) is not None:
                    built.dataset_meta = _drawable_meta(self.scope, built.dataset_meta)
                self.inferencer.model = built.to(device).eval()
            else:
                _weights_and_meta(self.inferencer.model, cfg, self.scope, weights, name)

    def __call__(self, images, out_dir: Optional[str] = None, show: bool = False,
                 batch_size: int = 1, **kwargs) -> Dict[str, Any]:
        """Predict, and draw the predictions into ``out_dir/vis`` when ``out_dir`` is given.

        Args:
            images (str | ndarray | list): Image paths or BGR arrays ``(H, W, 3)``.
            out_dir (str, optional): Drawings go to ``out_dir/vis/`` (file names of the task
                library: the image's name, ``.png`` for classification).
            show (bool): Show each drawing in a window.
            batch_size (int): Images per forward pass.
            **kwargs: Passed to the task library's inferencer call (``pred_score_thr`` for
                detection, ``opacity`` for segmentation, ``draw_score`` for classification...).

        Returns:
            dict: ``predictions``: one per image (classification: dict with ``pred_label``,
            ``pred_score``, ``pred_class``, ``pred_scores``; segmentation: class index map
            ``(H, W)``; detection: dict with ``labels``, ``scores``, ``bboxes``);
            ``visualization``: drawings as arrays where the library returns them (else empty);
            ``out_files``: the drawing files written or rewritten under ``out_dir/vis``.
        """
        from mmengine.registry import DefaultScope

        count = len(images) if isinstance(images, (list, tuple)) else 1
        vis_dir = osp.join(out_dir, 'vis') if out_dir else None
        before = _snapshot(vis_dir) if vis_dir else {}
        with DefaultScope.overwrite_default_scope(self.scope):
            result = self._predict(images, count, vis_dir, out_dir, show, batch_size, **kwargs)
        after = _snapshot(vis_dir) if vis_dir else {}
        result['out_files'] = sorted(p for p, mtime in after.items() if before.get(p) != mtime)
        return result

    def _predict(self, images, count, vis_dir, out_dir, show, batch_size, **kwargs) -> dict:
        if self.scope == 'mmpretrain':
            if vis_dir:
                os.makedirs(vis_dir, exist_ok=True)
            predictions = self.inferencer(
                images, batch_size=batch_size, show=show, show_dir=vis_dir, **kwargs)
            result = dict(predictions=list(predictions), visualization=[])
        else:
            raw = self.inferencer(
                images, batch_size=batch_size, show=show, out_dir=out_dir or '', **kwargs)
            result = dict(predictions=_as_list(raw['predictions'], count),
                          visualization=_as_list(raw.get('visualization'), count))
        return result

    def __repr__(self) -> str:
        return (f'{type(self).__name__}({self.name!r}, task={self.task!r}, '
                f'inferencer={type(self.inferencer).__name__})')


def inference_model(model_or_name, images, out_dir: Optional[str] = None,
                    weights: Union[None, bool, str] = None, device: str = 'cpu',
                    cfg_options: Optional[dict] = None, **kwargs) -> Dict[str, Any]:
    """One-call inference: ``Inferencer(model_or_name, weights, device, cfg_options)(images,
    out_dir, **kwargs)``.

    Args:
        model_or_name: A metafile name, a config path, a ``Config`` or a :func:`get_model`
            model (then ``weights`` is ignored: the model keeps its own).
        images (str | ndarray | list): Image paths or BGR arrays.
        out_dir (str, optional): Write drawings into ``out_dir/vis``.
        weights, device, cfg_options: See :class:`Inferencer`.
        **kwargs: Passed to :meth:`Inferencer.__call__`.

    Returns:
        dict: See :meth:`Inferencer.__call__`.

    Example:
        >>> from mmhybrid.apis import inference_model
        >>> result = inference_model('topformer-t_8xb128_in1k', 'demo.jpg', out_dir='outputs')
        >>> result['predictions'][0]['pred_class']  # random weights: some ImageNet class
    """
    inferencer = Inferencer(model_or_name, weights=weights, device=device,
                            cfg_options=cfg_options)
    return inferencer(images, out_dir=out_dir, **kwargs)
