# Copyright (c) mmhybrid contributors. All rights reserved.
"""OpenMMLab habits of tools/train.py and tools/test.py: errors come first and name the fix."""
import os
import os.path as osp
import time

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from smoke import make_smoke_config

from mmhybrid.apis.runner_setup import enable_amp
from mmhybrid.testing import make_ade20k

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'topformer', 'topformer_t_ade20k.py')


@pytest.fixture(scope='module')
def ade_root(tmp_path_factory):
    return make_ade20k(str(tmp_path_factory.mktemp('tiny')), num_train=2, num_val=2)


@pytest.fixture
def smoke(tmp_path, ade_root):
    cfg = make_smoke_config(CONFIG, {'ade20k': ade_root}, str(tmp_path / 'work'),
                            with_val=False)
    config = str(tmp_path / 'cfg.py')
    cfg.dump(config)
    init_default_scope('mmseg')
    ckpt = str(tmp_path / 'model.pth')
    torch.save(dict(meta=dict(), state_dict=MODELS.build(cfg.model).state_dict()), ckpt)
    return config, ckpt


def test_missing_pretrained_weights_fail_in_seconds_with_the_fix(load_tool):
    start = time.perf_counter()
    with pytest.raises(FileNotFoundError) as error:
        load_tool('train.py').main([CONFIG, '--work-dir', '/nonexistent/never-created'])
    message = str(error.value)
    assert "model.backbone.init_cfg.checkpoint='checkpoints/topformer-t_3rdparty_in1k.pth'" \
        in message
    assert 'fetch_official.py' in message
    assert '--cfg-options model.backbone.init_cfg=None' in message
    assert time.perf_counter() - start < 30


def test_out_folder_writes_label_pngs_for_segmentation(tmp_path, smoke, load_tool):
    config, ckpt = smoke
    out = tmp_path / 'preds'
    load_tool('test.py').main([config, ckpt, '--out', str(out), '--work-dir',
                               str(tmp_path / 't')])
    pngs = [name for name in os.listdir(out) if name.endswith('.png')]
    assert len(pngs) == 1  # the smoke config evaluates one image
    with pytest.raises(FileExistsError, match='not empty'):
        load_tool('test.py').main([config, ckpt, '--out', str(out)])


def test_out_is_checked_before_building(tmp_path, smoke, load_tool):
    config, ckpt = smoke
    existing = tmp_path / 'results.pkl'
    existing.write_bytes(b'user data')
    with pytest.raises(FileExistsError, match='--force'):
        load_tool('test.py').main([config, ckpt, '--out', str(existing)])
    assert existing.read_bytes() == b'user data'
    det = Config.fromfile(osp.join(REPO, 'configs', 'edgevit',
                                   'retinanet_edgevit-xxs_fpn_1x_coco.py'))
    det_config = str(tmp_path / 'det.py')
    det.dump(det_config)
    with pytest.raises(ValueError, match='must name a .pkl file for mmdet'):
        load_tool('test.py').main([det_config, ckpt, '--out', str(tmp_path / 'dir')])
    assert not (tmp_path / 'work').exists()


def test_amp_without_cuda_is_refused_in_one_line():
    cfg = Config(dict(optim_wrapper=dict(type='OptimWrapper', optimizer=dict(type='SGD'))))
    with pytest.raises(ValueError, match='--amp needs a CUDA GPU') as error:
        enable_amp(cfg, cuda_available=False)
    assert '\n' not in str(error.value)
    enable_amp(cfg, cuda_available=True)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'


def test_misspelt_type_suggests_the_registered_name(tmp_path, smoke, load_tool):
    config, _ = smoke
    with pytest.raises(KeyError) as error:
        load_tool('train.py').main(
            [config, '--cfg-options', 'model.backbone.type=mmhybrid.TopFomer'])
    assert "did you mean 'mmhybrid.TopFormer'" in str(error.value)
