# Copyright (c) mmhybrid contributors. All rights reserved.
"""Build a model and a matching input tensor from any classification, detection or
segmentation config, in the form the analysis tools measure.

Every tool under ``tools/analysis_tools`` and ``tools/deployment`` needs the same thing: a plain
``nn.Module`` that maps an image batch to tensors (traceable for FLOP counting and ONNX export),
built from a config without pretrained checkpoints or SyncBN. Which part of the task model is
measured is a fixed convention, the one the papers' tables use:

=================  ==================================  ======================================
config scope       ``part='model'``                     ``part='backbone'``
=================  ==================================  ======================================
``mmpretrain``     ``ImageClassifier`` in tensor mode    ``model.backbone``
                   (images -> logits)
``mmseg``          ``EncoderDecoder`` in tensor mode     ``model.backbone``
                   (images -> decode-head logits, no
                   final up-sampling / argmax)
``mmdet``          backbone + neck (``extract_feat``)    ``model.backbone``
=================  ==================================  ======================================

Detectors stop at the neck because their heads end in data-dependent post-processing (NMS,
RoI sampling) that neither traces to ONNX nor has a meaningful fixed cost.
:func:`build_detector_head_probe` adds the dense head (RPN or single-stage head) for FLOP
counting only.

The data preprocessor (mean/std normalisation, padding) is not part of the measured module:
inputs are already-normalised float tensors, as in deployment.

Example:
    >>> from mmhybrid.tasks import build_task_model
    >>> task = build_task_model('configs/edgevit/edgevit-xxs_8xb256_in1k.py')
    >>> task.scope, task.input_shape
    ('mmpretrain', (224, 224))
    >>> task.module(task.make_inputs()).shape
    torch.Size([1, 1000])
"""
import contextlib
import copy
import importlib
import logging
import os.path as osp
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.config import Config

from mmhybrid.utils.config import replace_sync_bn
from .scope import TASK_SCOPES, config_scope, task_scope

__all__ = [
    'BASELINE_CONFIGS', 'TaskModel', 'load_config', 'plain_model_cfg', 'default_input_shape',
    'build_task_model', 'build_detector_head_probe', 'randomise_bn_statistics',
    'quiet_mmengine_logger', 'TensorModeWrapper', 'DetectorFeatureWrapper'
]

#: The papers' CNN baselines, as configs shipped inside the installed libraries (``mim``-style
#: ``package::path`` names, resolved by :func:`load_config`).
BASELINE_CONFIGS = {
    'MobileNetV2': 'mmpretrain::mobilenet_v2/mobilenet-v2_8xb32_in1k.py',
    'MobileNetV3-Large': 'mmpretrain::mobilenet_v3/mobilenet-v3-large_8xb128_in1k.py',
    'MobileNetV3-Small': 'mmpretrain::mobilenet_v3/mobilenet-v3-small_8xb128_in1k.py',
    'ResNet-50': 'mmpretrain::resnet/resnet50_8xb32_in1k.py',
    'FPN ResNet-50 (seg)': 'mmseg::sem_fpn/fpn_r50_4xb4-160k_ade20k-512x512.py',
    'LR-ASPP MobileNetV3-Large (seg)':
    'mmseg::mobilenet_v3/mobilenet-v3-d8_lraspp_4xb4-320k_cityscapes-512x1024.py',
    'DeepLabV3+ MobileNetV2 (seg)':
    'mmseg::mobilenet_v2/mobilenet-v2-d8_deeplabv3plus_4xb4-160k_ade20k-512x512.py',
}

_DEFAULT_SHAPES = dict(mmpretrain=(224, 224), mmseg=(512, 512), mmdet=(800, 1333))


def load_config(config: Union[str, Config], cfg_options: Optional[dict] = None) -> Config:
    """Load a config file, or a ``'mmseg::path/in/its/configs.py'`` config of an installed
    OpenMMLab library, and apply ``--cfg-options``-style overrides."""
    if isinstance(config, Config):
        cfg = copy.deepcopy(config)
    else:
        path = config
        if '::' in config:
            package, relative = config.split('::', 1)
            try:
                module = importlib.import_module(package)
            except ImportError as exc:
                raise ImportError(f'{config!r} needs the {package} package ({exc}).') from exc
            path = osp.join(osp.dirname(module.__file__), '.mim', 'configs', relative)
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'Config {config!r} not found (looked for {path!r}). Pass a path to a .py '
                "config or a 'mmpretrain::'/'mmseg::'/'mmdet::' name of an installed library.")
        cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def _scope_of(cfg: Config) -> str:
    return config_scope(cfg, 'the analysis tools')


def plain_model_cfg(model_cfg: Any) -> Any:
    """A copy of a model config that builds on one CPU without downloading anything.

    SyncBN variants become BN, ``init_cfg=dict(type='Pretrained', ...)`` entries and mmseg's
    ``pretrained=...`` are dropped (the weights come from ``--checkpoint`` instead).
    """
    node = copy.deepcopy(model_cfg)
    replace_sync_bn(node)

    def fix(item):
        if isinstance(item, dict):
            init_cfg = item.get('init_cfg')
            if isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained':
                item['init_cfg'] = None
            elif isinstance(init_cfg, list):
                item['init_cfg'] = [
                    c for c in init_cfg
                    if not (isinstance(c, dict) and c.get('type') == 'Pretrained')] or None
            if 'pretrained' in item:
                item['pretrained'] = None
            for value in item.values():
                fix(value)
        elif isinstance(item, (list, tuple)):
            for value in item:
                fix(value)

    fix(node)
    return node


def _iter_dicts(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _iter_dicts(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _iter_dicts(value)


def _as_hw(value) -> Optional[Tuple[int, int]]:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value, value
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(
            isinstance(v, int) and v > 0 for v in value):
        return int(value[0]), int(value[1])
    return None


def default_input_shape(cfg: Config) -> Tuple[int, int]:
    """The ``(H, W)`` a config's model is evaluated at.

    Classifiers: the test pipeline's ``CenterCrop``/``Resize`` size (224 for ImageNet configs).
    Segmentors: the data preprocessor's ``size`` (the training crop, e.g. 512x512), as in the
    papers' FLOPs tables. Detectors: the test ``Resize`` scale, given by mmdet as ``(W, H)``
    (800x1333 for COCO configs).
    """
    scope = _scope_of(cfg)
    if scope == 'mmseg':
        size = _as_hw((cfg.model.get('data_preprocessor') or {}).get('size'))
        if size:
            return size
        return _as_hw(cfg.get('crop_size')) or _DEFAULT_SHAPES[scope]
    pipeline = (cfg.get('test_dataloader') or {}).get('dataset', {}).get('pipeline', [])
    for transform in _iter_dicts(pipeline):
        type_ = str(transform.get('type', ''))
        if scope == 'mmpretrain' and type_.endswith('CenterCrop'):
            size = _as_hw(transform.get('crop_size'))
            if size:
                return size
        if scope == 'mmdet' and type_.endswith('Resize') and 'scale' in transform:
            size = _as_hw(transform['scale'])
            if size:  # mmdet scales are (w, h)
                return size[1], size[0]
    return _DEFAULT_SHAPES[scope]


class TensorModeWrapper(nn.Module):
    """``images -> tensors`` view of an OpenMMLab ``BaseModel`` (``forward(x, mode='tensor')``).

    Classifiers return logits ``(N, num_classes)``; segmentors the decode head's logits
    ``(N, num_classes, H / s, W / s)`` (``s`` = the head's output stride).
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor):
        return self.model(inputs, mode='tensor')


class DetectorFeatureWrapper(nn.Module):
    """A detector's backbone + neck (what ``extract_feat`` runs): ``images -> tuple of maps``.

    Holds only those two parts, so parameter counts cover exactly what is run.
    """

    def __init__(self, detector: nn.Module):
        super().__init__()
        self.backbone = detector.backbone
        self.neck = detector.neck if getattr(detector, 'with_neck', False) else None

    def forward(self, inputs: torch.Tensor):
        feats = self.backbone(inputs)
        if self.neck is not None:
            feats = self.neck(feats)
        return tuple(feats)


class _DenseHeadProbe(DetectorFeatureWrapper):
    """Backbone + neck + the dense head's raw forward (RPN head or single-stage head)."""

    def __init__(self, detector: nn.Module):
        super().__init__(detector)
        self.head = detector.rpn_head if getattr(detector, 'with_rpn', False) else getattr(
            detector, 'bbox_head')

    def forward(self, inputs: torch.Tensor):
        outputs = self.head(super().forward(inputs))
        flat = []
        for item in outputs:
            flat.extend(item if isinstance(item, (list, tuple)) else [item])
        return tuple(t for t in flat if isinstance(t, torch.Tensor))


@dataclass
class TaskModel:
    """A built config: the task model and the module the tools measure.

    Attributes:
        name: the config's file stem (or the given name).
        scope: ``'mmpretrain'``, ``'mmseg'`` or ``'mmdet'``.
        model: the full task model (``ImageClassifier``, ``EncoderDecoder``, detector), eval mode.
        module: what is measured: ``images -> tensor(s)``, see the module docstring.
        part: ``'model'`` or ``'backbone'``.
        input_shape: ``(H, W)`` to measure at.
        cfg: the loaded config.
    """
    name: str
    scope: str
    model: nn.Module
    module: nn.Module
    part: str
    input_shape: Tuple[int, int]
    cfg: Config = field(repr=False)

    @property
    def task(self) -> str:
        return TASK_SCOPES[self.scope]

    def make_inputs(self, batch: int = 1, shape: Optional[Sequence[int]] = None,
                    seed: int = 0) -> torch.Tensor:
        """A normalised-looking random image batch ``(batch, 3, H, W)`` on the model's device."""
        height, width = shape or self.input_shape
        generator = torch.Generator().manual_seed(seed)
        x = torch.randn(batch, 3, int(height), int(width), generator=generator)
        device = next(iter(self.module.parameters()), torch.empty(0)).device
        return x.to(device)


def randomise_bn_statistics(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm non-trivial running statistics (in place).

    Freshly initialised BNs have mean 0 / var 1, which makes conv+BN folding look exact for the
    wrong reason; measured models get realistic statistics instead.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm) and \
                    module.running_mean is not None:
                n = module.num_features
                module.running_mean.copy_(torch.rand(n, generator=generator) * 0.2 - 0.1)
                module.running_var.copy_(torch.rand(n, generator=generator) * 0.5 + 0.75)
    return model


@contextlib.contextmanager
def quiet_mmengine_logger():
    """Silence MMEngine's per-parameter ``init_weights`` report (hundreds of INFO lines)."""
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _registry(cfg: Config):
    scope = task_scope(cfg, 'the analysis tools')  # imports the library and mmhybrid's models
    from mmengine.registry import init_default_scope
    init_default_scope(scope)
    return scope, importlib.import_module(f'{scope}.registry').MODELS


def build_task_model(config: Union[str, Config],
                     checkpoint: Optional[str] = None,
                     part: str = 'model',
                     device: Union[str, torch.device] = 'cpu',
                     cfg_options: Optional[dict] = None,
                     shape: Optional[Sequence[int]] = None,
                     deploy: bool = False,
                     name: Optional[str] = None,
                     seed: int = 0) -> TaskModel:
    """Build the measured form of a config's model.

    Args:
        config: a config path, a ``'mmseg::...'`` library config name, or a ``Config``.
        checkpoint: weights to load (strictly: every key must match). Without one the model is
            randomly initialised and its BN statistics randomised
            (:func:`randomise_bn_statistics`), so deploy-time folding is really exercised.
        part: ``'model'`` (see the module docstring) or ``'backbone'``.
        device: where to put the model.
        cfg_options: overrides merged into the config.
        shape: ``(H, W)`` to measure at; default :func:`default_input_shape`.
        deploy: fold BN and re-parameterise with
            :func:`mmhybrid.models.utils.switch_to_deploy`.
        name: a display name (default: the config's file stem).
        seed: seed for the random initialisation.
    """
    if part not in ('model', 'backbone'):
        raise ValueError(f"part must be 'model' or 'backbone', got {part!r}.")
    cfg = load_config(config, cfg_options)
    scope, registry = _registry(cfg)
    model_cfg = plain_model_cfg(cfg.model)
    if cfg.get('data_preprocessor') and not model_cfg.get('data_preprocessor'):
        # mmpretrain configs give mean/std and num_classes at the top level; MMEngine's Runner
        # moves them into the model, and so does this function (TaskModel.model preprocesses
        # data the way training and testing do).
        model_cfg['data_preprocessor'] = copy.deepcopy(cfg.data_preprocessor)
    torch.manual_seed(seed)
    model = registry.build(model_cfg)
    if checkpoint:
        _load_strictly(model, checkpoint)
    else:
        with quiet_mmengine_logger():
            model.init_weights()
        randomise_bn_statistics(model, seed)
    model.eval()
    if deploy:
        from mmhybrid.models.utils import switch_to_deploy
        switch_to_deploy(model)
    model.to(device)
    if part == 'backbone':
        module = model.backbone
    elif scope == 'mmdet':
        module = DetectorFeatureWrapper(model)
    else:
        module = TensorModeWrapper(model)
    module.eval()
    if isinstance(config, str):
        default_name = osp.splitext(osp.basename(config.split('::')[-1]))[0]
    else:
        default_name = osp.splitext(osp.basename(cfg.filename or 'model'))[0]
    input_shape = tuple(int(v) for v in shape) if shape else default_input_shape(cfg)
    if len(input_shape) != 2:
        raise ValueError(f'shape must be (H, W), got {shape!r}.')
    return TaskModel(name=name or default_name, scope=scope, model=model, module=module,
                     part=part, input_shape=input_shape, cfg=cfg)


def _load_strictly(model: nn.Module, checkpoint: str) -> None:
    """Load a local or remote checkpoint into ``model``: every key and shape must match and
    every weight must be finite (errors name the file and the tensors)."""
    from mmengine.runner import load_state_dict

    from mmhybrid.utils.state_dict import (
        check_checkpoint_fits,
        checkpoint_state_dict,
        read_checkpoint,
    )
    loaded = read_checkpoint(checkpoint)
    check_checkpoint_fits(
        model, checkpoint, checkpoint=loaded,
        fix='Pass a checkpoint trained with this config (or converted with '
        'tools/model_converters/).')
    load_state_dict(model, checkpoint_state_dict(loaded), strict=True)


def build_detector_head_probe(task: TaskModel) -> nn.Module:
    """Backbone + neck + dense head (RPN head of two-stage detectors, the head of single-stage
    ones) of a detector :class:`TaskModel`, for FLOP counting (RoI heads are excluded: their
    cost depends on the number of proposals)."""
    if task.scope != 'mmdet':
        raise ValueError(f'{task.name} is not a detector (scope {task.scope!r}).')
    return _DenseHeadProbe(task.model).eval()
