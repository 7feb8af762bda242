# Copyright (c) mmhybrid contributors. All rights reserved.
"""``tools/test.py`` needs only what it reads: the test split and its evaluator's files.

Before: it refused to start unless the train and val folders existed, and with ``data_root``
overridden the COCO evaluator's ``ann_file`` stayed behind and the run ended in a raw
pycocotools ``FileNotFoundError``.
"""
import os.path as osp
import shutil

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmhybrid.datasets import DatasetError
from mmhybrid.testing import make_ade20k, make_coco

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SEGMENTER = osp.join(REPO, 'configs', 'topformer', 'topformer_t_ade20k.py')
DETECTOR = osp.join(REPO, 'configs', 'edgevit', 'retinanet_edgevit-xxs_fpn_1x_coco.py')


def random_checkpoint(config, scope, path, **cfg_options):
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(cfg_options)
    registry = {'mmseg': 'mmseg.registry', 'mmdet': 'mmdet.registry'}[scope]
    models = __import__(registry, fromlist=['MODELS']).MODELS
    with DefaultScope.overwrite_default_scope(scope):
        state = models.build(cfg.model).state_dict()
    torch.save(dict(meta={}, state_dict=state), str(path))
    return str(path)


@pytest.mark.slow
def test_segmentation_test_without_train_folders_and_with_data_root(tmp_path, load_tool,
                                                                    capsys):
    ade = make_ade20k(str(tmp_path / 'ade'), num_train=1, num_val=2, size=(64, 48))
    shutil.rmtree(osp.join(ade, 'images', 'training'))
    shutil.rmtree(osp.join(ade, 'annotations', 'training'))
    options = {'model.backbone.init_cfg': None}
    ckpt = random_checkpoint(SEGMENTER, 'mmseg', tmp_path / 'model.pth', **options)
    metrics = load_tool('test.py').main([
        SEGMENTER, ckpt, '--data-root', ade, '--work-dir', str(tmp_path / 'work'),
        '--show-dir', str(tmp_path / 'drawings'),  # mmseg's hook used to build the train set
        '--cfg-options', 'model.backbone.init_cfg=None', 'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False'])
    assert 'mIoU' in metrics
    out = capsys.readouterr().out
    assert f'test_dataloader.dataset.data_root: data/ade/ADEChallengeData2016 -> {ade}' in out
    assert f'test.py wrote the log and metrics under {tmp_path / "work"}' in out
    assert f'the drawings under {tmp_path / "drawings"}' in out


def test_a_missing_evaluator_file_is_named_with_its_key(tmp_path, load_tool):
    coco = make_coco(str(tmp_path / 'coco'), num_train=1, num_val=1, size=(64, 48))
    ckpt = str(tmp_path / 'unused.pth')
    torch.save(dict(state_dict={}), ckpt)
    # data_root moved by hand: the evaluator's ann_file stays at data/coco/...
    with pytest.raises(DatasetError) as error:
        load_tool('test.py').main([DETECTOR, ckpt, '--work-dir', str(tmp_path / 'work'),
                                   '--cfg-options', f'test_dataloader.dataset.data_root={coco}/'])
    message = str(error.value)
    assert 'test_evaluator.ann_file' in message and 'instances_val2017.json' in message
    assert 'train' not in message  # the train split is not read, so not checked
