# Copyright (c) mmhybrid contributors. All rights reserved.
"""``init_cfg=dict(type='Pretrained')`` on mmhybrid backbones loads strictly.

For every family, the ImageNet classifier a config pair trains first must initialise the dense
backbone of its detection/segmentation config completely (every shared tensor equal), and a
checkpoint of another architecture or a wrong ``prefix`` is an error naming the file, where
MMEngine's ``PretrainedInit`` would load with ``strict=False`` and leave random weights.
"""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

from mmhybrid.utils.config import replace_sync_bn
from mmhybrid.utils.state_dict import CheckpointMismatchError

CONFIGS = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))),
                   'configs')
#: (ImageNet classifier config, dense config whose backbone it initialises, another arch's
#: classifier config)
PAIRS = [
    ('topformer/topformer-t_8xb128_in1k.py', 'topformer/topformer_t_ade20k.py',
     'topformer/topformer-s_8xb128_in1k.py'),
    ('edgevit/edgevit-xxs_8xb256_in1k.py', 'edgevit/fpn_edgevit-xxs_4xb4-80k_ade20k-512x512.py',
     'edgevit/edgevit-xs_8xb256_in1k.py'),
    ('hatnet/hatnet-tiny_8xb128_in1k.py', 'hatnet/fpn_hatnet-tiny_4xb4-80k_ade20k-512x512.py',
     'hatnet/hatnet-small_8xb128_in1k.py'),
    ('hatnet/transcnn-tiny_8xb128_in1k.py',
     'hatnet/fpn_transcnn-tiny_4xb4-80k_ade20k-512x512.py', 'hatnet/hatnet-tiny_8xb128_in1k.py'),
    ('trt_vit/trt-vit-a_8xb128_in1k.py', 'trt_vit/fpn_trt-vit-a_4xb4-80k_ade20k-512x512.py',
     'trt_vit/trt-vit-b_8xb128_in1k.py'),
]


def classifier_checkpoint(config, path):
    cfg = Config.fromfile(osp.join(CONFIGS, config))
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    torch.manual_seed(1)
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.uniform_(-1, 1)
    torch.save(dict(meta=dict(), state_dict=model.state_dict()), str(path))
    return {k[len('backbone.'):]: v for k, v in model.state_dict().items()
            if k.startswith('backbone.')}


def dense_backbone(config, **init_cfg):
    cfg = Config.fromfile(osp.join(CONFIGS, config))
    init_default_scope(cfg.default_scope)
    backbone = cfg.model.backbone.to_dict()
    replace_sync_bn(backbone)
    backbone['init_cfg'] = dict(type='Pretrained', **init_cfg)
    return MODELS.build(backbone)


@pytest.mark.parametrize('classifier,dense,other', PAIRS, ids=[p[1].split('/')[1] for p in PAIRS])
def test_classifier_weights_initialise_the_dense_backbone(tmp_path, classifier, dense, other):
    path = tmp_path / 'cls.pth'
    expected = classifier_checkpoint(classifier, path)
    backbone = dense_backbone(dense, checkpoint=str(path), prefix='backbone.')
    backbone.init_weights()
    loaded = backbone.state_dict()
    optional = backbone.pretrained_optional_prefixes
    assert [key for key in loaded if key not in expected] == [
        key for key in loaded if key.startswith(optional)]
    shared = [key for key in expected if key in loaded]
    for key in shared:
        assert torch.equal(loaded[key], expected[key]), key

    other_path = tmp_path / 'other.pth'
    classifier_checkpoint(other, other_path)
    with pytest.raises(CheckpointMismatchError, match='other.pth'):
        dense_backbone(dense, checkpoint=str(other_path), prefix='backbone.').init_weights()


def test_wrong_prefix_and_opt_out(tmp_path):
    classifier, dense, other = PAIRS[0]
    path = tmp_path / 'cls.pth'
    classifier_checkpoint(classifier, path)
    with pytest.raises(CheckpointMismatchError, match="prefix='model.'"):
        dense_backbone(dense, checkpoint=str(path), prefix='model.').init_weights()
    other_path = tmp_path / 'other.pth'
    expected = classifier_checkpoint(other, other_path)
    # strict=False is the documented opt-out: what fits loads, the rest stays random.
    backbone = dense_backbone(dense, checkpoint=str(other_path), prefix='backbone.',
                              strict=False)
    backbone.init_weights()
    state = backbone.state_dict()
    same_shape = [k for k, v in expected.items() if k in state and v.shape == state[k].shape]
    assert same_shape and all(torch.equal(state[k], expected[k]) for k in same_shape)
