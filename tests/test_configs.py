# Copyright (c) mmhybrid contributors. All rights reserved.
"""Every config under ``configs/`` trains one step on the tiny synthetic datasets.

``test_config_trains_one_step`` discovers ``configs/**/*.py`` (except ``_base_``), shrinks each
with :func:`mmhybrid.testing.make_smoke_config` (tiny data, small sizes, one iteration, BN,
no checkpoints) and runs ``Runner.train()`` including one validation pass; select one family
with ``-k topformer``. ``test_harness_*`` prove the harness itself on stock OpenMMLab configs
of each task and dataset layout.
"""
import math
from pathlib import Path

import pytest
from mmengine.config import Config
from smoke import make_smoke_config, run_smoke_training

from mmhybrid.testing import make_all

CONFIG_DIR = Path(__file__).resolve().parents[1] / 'configs'
CONFIGS = sorted(
    path for path in CONFIG_DIR.rglob('*.py')
    if '_base_' not in path.relative_to(CONFIG_DIR).parts)


@pytest.fixture(scope='session')
def tiny_data_roots(tmp_path_factory):
    return make_all(str(tmp_path_factory.mktemp('tiny_data')), num_train=4, num_val=2)


def _train_one_step(cfg, data_roots, work_dir):
    smoke_cfg = make_smoke_config(cfg, data_roots, str(work_dir))
    result = run_smoke_training(smoke_cfg)
    assert len(result.losses) == 1
    assert math.isfinite(result.losses[0]), f'loss is {result.losses[0]}'
    assert result.val_metrics, 'the validation pass produced no metrics'
    return result


@pytest.mark.slow  # one training step and a validation pass per config
@pytest.mark.parametrize(
    'config', CONFIGS, ids=[str(p.relative_to(CONFIG_DIR)) for p in CONFIGS])
def test_config_trains_one_step(config, tiny_data_roots, tmp_path):
    _train_one_step(str(config), tiny_data_roots, tmp_path)


# ----------------------------------------------------------------------------------------------
# The harness on stock OpenMMLab configs (ResNet-18 models, real base datasets)
# ----------------------------------------------------------------------------------------------
_SEG_TEMPLATE = """
_base_ = ['mmseg::_base_/models/fcn_r50-d8.py', 'mmseg::_base_/datasets/{dataset}.py',
          'mmseg::_base_/default_runtime.py', 'mmseg::_base_/schedules/schedule_80k.py']
model = dict(
    data_preprocessor=dict(size={{{{_base_.crop_size}}}}),
    pretrained='open-mmlab://resnet18_v1c',
    backbone=dict(depth=18),
    decode_head=dict(in_channels=512, channels=32, num_classes={num_classes}),
    auxiliary_head=dict(in_channels=256, channels=16, num_classes={num_classes}),
    test_cfg={test_cfg})
"""

_STOCK_CONFIGS = {
    'ade20k': _SEG_TEMPLATE.format(
        dataset='ade20k', num_classes=150, test_cfg="dict(mode='whole')"),
    'cityscapes': 'mmseg::fcn/fcn_r18-d8_4xb2-80k_cityscapes-512x1024.py',
    'pascal_context': _SEG_TEMPLATE.format(
        dataset='pascal_context', num_classes=60,
        test_cfg="dict(mode='slide', crop_size=(480, 480), stride=(320, 320))"),
    'pascal_context_59': _SEG_TEMPLATE.format(
        dataset='pascal_context_59', num_classes=59, test_cfg="dict(mode='whole')"),
    'coco-stuff10k': _SEG_TEMPLATE.format(
        dataset='coco-stuff10k', num_classes=171, test_cfg="dict(mode='whole')"),
    'coco-stuff164k': _SEG_TEMPLATE.format(
        dataset='coco-stuff164k', num_classes=171, test_cfg="dict(mode='whole')"),
    'retinanet': 'mmdet::retinanet/retinanet_r18_fpn_1x_coco.py',
    'retinanet_amp_lsj': 'mmdet::retinanet/retinanet_r18_fpn_8xb8-amp-lsj-200e_coco.py',
    'mask-rcnn': """
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
model = dict(
    backbone=dict(depth=18, init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet18')),
    neck=dict(in_channels=[64, 128, 256, 512]))
""",
    'imagenet': 'mmpretrain::resnet/resnet18_8xb32_in1k.py',
    'imagenet_swin_pipeline': """
_base_ = ['mmpretrain::_base_/models/resnet18.py',
          'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
          'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
          'mmpretrain::_base_/default_runtime.py']
train_dataloader = dict(sampler=dict(type='RepeatAugSampler', shuffle=True))
custom_hooks = [dict(type='EMAHook', momentum=4e-5, priority='ABOVE_NORMAL')]
""",
}


def _stock_config(name, tmp_path, text=None) -> Config:
    """Load ``_STOCK_CONFIGS[name]`` (or ``text``): config text, or a ``pkg::`` config path."""
    text = text or _STOCK_CONFIGS[name]
    if '\n' not in text:
        text = f'_base_ = {text!r}\n'
    path = tmp_path / f'harness_{name}.py'
    path.write_text(text)
    return Config.fromfile(str(path))


@pytest.mark.slow  # one training step and a validation pass per stock config
@pytest.mark.parametrize('name', sorted(_STOCK_CONFIGS))
def test_harness_trains_stock_config(name, tiny_data_roots, tmp_path):
    _train_one_step(_stock_config(name, tmp_path), tiny_data_roots, tmp_path / 'work')


def _all_values(node, key):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield v
            yield from _all_values(v, key)
    elif isinstance(node, (list, tuple)):
        for item in node:
            yield from _all_values(item, key)


def test_harness_shrinks_segmentation_config(tiny_data_roots, tmp_path):
    cfg = _stock_config('pascal_context', tmp_path)
    assert 'SyncBN' in cfg.pretty_text
    smoke = make_smoke_config(cfg, tiny_data_roots, str(tmp_path / 'work'))
    # 480 px crops become 64 px; every other size shrinks by the same factor 64 / 480
    assert list(_all_values(smoke.train_dataloader, 'crop_size')) == [(64, 64)]
    assert smoke.model.data_preprocessor.size == (64, 64)
    assert smoke.model.test_cfg.crop_size == (64, 64)
    assert smoke.model.test_cfg.stride == (43, 43)
    assert list(_all_values(smoke.train_dataloader, 'scale')) == [(69, 69)]
    assert 'SyncBN' not in str(smoke.model)
    assert smoke.model.pretrained is None
    for loader in (smoke.train_dataloader, smoke.val_dataloader):
        assert loader.num_workers == 0 and not loader.persistent_workers
        assert loader.dataset.data_root == tiny_data_roots['pascal_context']
    assert smoke.train_dataloader.batch_size == 2 and smoke.train_dataloader.dataset.indices == 2
    assert smoke.val_dataloader.batch_size == 1 and smoke.val_dataloader.dataset.indices == 1
    # the schedule is kept; SmokeStopHook stops after one iteration, then one val pass runs
    assert smoke.train_cfg.max_iters == 80000 and smoke.train_cfg.val_interval == 1
    assert smoke.custom_hooks[-1] == dict(type='SmokeStopHook', num_iters=1)
    assert smoke.default_hooks.checkpoint is None
    assert smoke.load_from is None and smoke.work_dir == str(tmp_path / 'work')
    # the input config is not modified
    assert cfg.train_dataloader.batch_size == 4 and 'SyncBN' in cfg.pretty_text


def test_harness_shrinks_detection_config(tiny_data_roots, tmp_path):
    cfg = _stock_config('retinanet_amp_lsj', tmp_path)
    smoke = make_smoke_config(cfg, tiny_data_roots, str(tmp_path / 'work'))
    # LSJ: 1024 px square scale and crop, plus a 1024 px batch pad, all become 96 px
    assert list(_all_values(smoke.train_dataloader, 'crop_size')) == [(96, 96)]
    assert [b['size'] for b in smoke.model.data_preprocessor.batch_augments] == [(96, 96)]
    assert smoke.model.data_preprocessor.pad_size_divisor == 32
    assert smoke.model.backbone.init_cfg is None
    assert smoke.optim_wrapper.type == 'OptimWrapper'
    assert smoke.train_dataloader.dataset.times == 1
    assert smoke.train_cfg.max_epochs == 25
    assert smoke.val_evaluator.ann_file.startswith(tiny_data_roots['coco'])
    assert (smoke.model.test_cfg.nms_pre, smoke.model.test_cfg.max_per_img) == (200, 50)


def test_harness_caps_two_stage_detector_sampling(tiny_data_roots, tmp_path):
    model = make_smoke_config(
        _stock_config('mask-rcnn', tmp_path), tiny_data_roots, str(tmp_path)).model
    assert model.train_cfg.rpn_proposal.max_per_img == 50
    assert model.train_cfg.rpn.sampler.num == 64 and model.train_cfg.rcnn.sampler.num == 64
    assert model.train_cfg.rcnn.mask_size == 28  # not a count: untouched
    assert model.test_cfg.rpn.nms_pre == 200 and model.test_cfg.rcnn.max_per_img == 50


def test_harness_shrinks_classification_config(tiny_data_roots, tmp_path):
    smoke = make_smoke_config(
        _stock_config('imagenet_swin_pipeline', tmp_path), tiny_data_roots, str(tmp_path))
    assert list(_all_values(smoke.train_dataloader, 'scale')) == [64]  # RandomResizedCrop 224
    assert list(_all_values(smoke.val_dataloader, 'scale')) == [73]  # ResizeEdge 256
    assert list(_all_values(smoke.val_dataloader, 'crop_size')) == [64]
    dataset = smoke.train_dataloader.dataset
    assert (dataset.data_prefix, dataset.ann_file) == ('train', 'meta/train.txt')
    assert 'split' not in dataset


def test_harness_rejects_unknown_dataset(tiny_data_roots, tmp_path):
    cfg = _stock_config('voc', tmp_path, 'mmdet::pascal_voc/retinanet_r50_fpn_1x_voc0712.py')
    with pytest.raises(ValueError, match="no tiny dataset for dataset type 'VOCDataset'"):
        make_smoke_config(cfg, tiny_data_roots, str(tmp_path))
    cfg = Config(dict(default_scope='mmengine'))
    with pytest.raises(ValueError, match='default_scope'):
        make_smoke_config(cfg, tiny_data_roots, str(tmp_path))


def test_smoke_stop_hook_validates_num_iters():
    from smoke import SmokeStopHook
    with pytest.raises(ValueError, match='num_iters must be >= 1'):
        SmokeStopHook(num_iters=0)
