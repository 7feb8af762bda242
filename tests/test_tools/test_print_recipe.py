# Copyright (c) mmhybrid contributors. All rights reserved.
"""tools/analysis_tools/print_recipe.py reads every config (merged, nothing built) and prints
its recipe in the terms of docs/en/recipes.md."""
import glob
import json
import os.path as osp

import pytest
from helpers import load_tool

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(osp.relpath(path, REPO) for path in glob.glob(osp.join(REPO, 'configs', '*',
                                                                         '*.py')))
LABELS = ('GPUs (from the name)', 'total batch', 'optimizer', 'lr per image', 'training length',
          'warm-up', 'schedule after warm-up', 'train augmentation', 'batch augmentation',
          'sampler', 'EMA', 'test-time resize', 'backbone initialised from')


@pytest.fixture(scope='module')
def tool():
    return load_tool('analysis_tools/print_recipe.py')


@pytest.mark.parametrize('config', CONFIGS)
def test_every_config_has_a_complete_recipe(tool, config, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    recipe = tool.main([config, '--json'])
    printed = json.loads(capsys.readouterr().out)
    assert set(LABELS) <= set(printed) and printed['optimizer'] == recipe['optimizer']
    assert recipe['training length'] != 'unknown'
    assert recipe['optimizer'].split('(')[0] in ('AdamW', 'SGD', 'timm.optim.RMSpropTF')
    if '_in1k' not in config:
        assert recipe['backbone initialised from'] != 'random initialisation', \
            f'{config} trains its backbone from scratch'


def test_recipe_values_of_a_known_config(tool, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    recipe = tool.main(['configs/edgevit/mask-rcnn_edgevit-s_fpn_1x_coco.py'])
    text = capsys.readouterr().out
    assert recipe['total batch'] == 16 and recipe['GPUs (from the name)'] == 8
    assert recipe['lr per image'] == pytest.approx(2e-4 / 16)
    assert recipe['training length'] == '12 epochs'
    assert recipe['warm-up'] == '500 iterations linear from 0.001 x lr'
    assert recipe['schedule after warm-up'] == 'x0.1 at epochs [8, 11]'
    assert recipe['backbone initialised from'] == 'work_dirs/edgevit-s_8xb256_in1k/epoch_300.pth'
    assert 'total batch' in text and 'work_dirs/edgevit-s_8xb256_in1k/epoch_300.pth' in text


def test_cfg_options_change_the_recipe(tool, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    recipe = tool.main(['configs/hatnet/hatnet-large_8xb128_in1k.py', '--json', '--cfg-options',
                        'train_dataloader.batch_size=64', 'model.backbone.drop_path_rate=0.5'])
    capsys.readouterr()
    assert recipe['total batch'] == 512 and recipe['model.backbone.drop_path_rate'] == 0.5
    assert recipe['optim_wrapper.clip_grad'] == {'max_norm': 1.0}


def test_missing_config_is_one_line(tool):
    with pytest.raises(SystemExit, match='does not exist'):
        tool.main(['configs/nope.py'])
