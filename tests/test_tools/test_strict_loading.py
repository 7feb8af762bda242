# Copyright (c) mmhybrid contributors. All rights reserved.
"""Checkpoints that do not fit are errors, raised before any dataset is built.

``tools/test.py`` with a checkpoint of another model, of another architecture or without the
``backbone.`` prefix; ``tools/train.py --resume`` with a checkpoint of another config; a head
whose ``in_channels`` do not match the backbone. Each used to run to the end (or to the first
forward) with exit code 0 or a raw error.
"""
import os.path as osp

import pytest
import torch
from mmengine.registry import MODELS, init_default_scope
from smoke import make_smoke_config

from mmhybrid.testing import make_ade20k
from mmhybrid.utils.state_dict import CheckpointMismatchError

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_CONFIG = osp.join(REPO, 'configs', 'topformer', 'topformer_t_ade20k.py')
SMALL_CONFIG = osp.join(REPO, 'configs', 'topformer', 'topformer_s_ade20k.py')


@pytest.fixture(scope='module')
def ade_root(tmp_path_factory):
    return make_ade20k(str(tmp_path_factory.mktemp('tiny')), num_train=2, num_val=1)


def smoke_config(path, config, ade_root, work_dir, **options):
    cfg = make_smoke_config(config, {'ade20k': ade_root}, str(work_dir), with_val=False)
    cfg.merge_from_dict(options)
    cfg.dump(str(path))
    return str(path)


def build_model(config_path):
    from mmengine.config import Config
    cfg = Config.fromfile(config_path)
    init_default_scope(cfg.default_scope)
    return MODELS.build(cfg.model)


def save(state_dict, path, **meta):
    torch.save(dict(meta=meta, state_dict=state_dict), str(path))
    return str(path)


@pytest.fixture
def tiny_setup(tmp_path, ade_root):
    config = smoke_config(tmp_path / 'tiny.py', TINY_CONFIG, ade_root, tmp_path / 'work')
    return config, build_model(config).state_dict()


def test_test_tool_refuses_a_checkpoint_of_another_arch(tmp_path, ade_root, tiny_setup,
                                                        load_tool):
    config, _ = tiny_setup
    small = smoke_config(tmp_path / 'small.py', SMALL_CONFIG, ade_root, tmp_path / 'w')
    ckpt = save(build_model(small).state_dict(), tmp_path / 'small.pth',
                experiment_name='topformer_s_run')
    with pytest.raises(CheckpointMismatchError) as error:
        load_tool('test.py').main([config, ckpt, '--work-dir', str(tmp_path / 't')])
    message = str(error.value)
    assert 'small.pth' in message and 'another architecture' in message
    assert 'tensors of another shape' in message and '--non-strict' in message
    assert 'topformer_s_run' in message


def test_test_tool_refuses_backbone_keys_without_prefix(tmp_path, tiny_setup, load_tool):
    config, state = tiny_setup
    unprefixed = {(k[len('backbone.'):] if k.startswith('backbone.') else k): v
                  for k, v in state.items()}
    ckpt = save(unprefixed, tmp_path / 'noprefix.pth')
    with pytest.raises(CheckpointMismatchError, match='without the "backbone." prefix'):
        load_tool('test.py').main([config, ckpt, '--work-dir', str(tmp_path / 't')])


def test_test_tool_refuses_weights_of_another_model(tmp_path, tiny_setup, load_tool):
    from mmhybrid.models import EdgeViT
    config, _ = tiny_setup
    ckpt = save({f'backbone.{k}': v for k, v in EdgeViT('xxs').state_dict().items()},
                tmp_path / 'edgevit.pth')
    with pytest.raises(CheckpointMismatchError, match='edgevit.pth') as error:
        load_tool('test.py').main([config, ckpt, '--work-dir', str(tmp_path / 't')])
    assert 'missing from the checkpoint' in str(error.value)


def test_test_tool_non_strict_reports_and_evaluates(tmp_path, tiny_setup, load_tool, capsys):
    config, state = tiny_setup
    partial = {k: v for k, v in state.items() if not k.startswith('decode_head.')}
    ckpt = save(partial, tmp_path / 'partial.pth')
    metrics = load_tool('test.py').main(
        [config, ckpt, '--non-strict', '--work-dir', str(tmp_path / 't')])
    assert 'mIoU' in metrics
    out = capsys.readouterr().out
    assert '--non-strict' in out and 'decode_head.conv_seg.weight' in out


def test_test_tool_accepts_an_exact_checkpoint(tmp_path, tiny_setup, load_tool):
    config, state = tiny_setup
    ckpt = save(state, tmp_path / 'exact.pth')
    assert 'mIoU' in load_tool('test.py').main([config, ckpt, '--work-dir',
                                                str(tmp_path / 't')])


def test_resume_of_another_config_fails_before_training(tmp_path, ade_root, tiny_setup,
                                                        load_tool):
    config, _ = tiny_setup
    small = smoke_config(tmp_path / 'small.py', SMALL_CONFIG, ade_root, tmp_path / 'w')
    ckpt = save(build_model(small).state_dict(), tmp_path / 'iter_8.pth')
    with pytest.raises(CheckpointMismatchError) as error:
        load_tool('train.py').main([config, '--resume', ckpt])
    message = str(error.value)
    assert 'iter_8.pth' in message and '--resume continues a run of the same config' in message
    assert not (tmp_path / 'work' / 'iter_1.pth').exists()


def test_resume_of_a_truncated_checkpoint_names_it(tmp_path, tiny_setup, load_tool):
    config, state = tiny_setup
    ckpt = save(state, tmp_path / 'iter_4.pth')
    data = open(ckpt, 'rb').read()
    with open(ckpt, 'wb') as file:
        file.write(data[:len(data) // 3])
    with pytest.raises(FileNotFoundError, match='iter_4.pth.*truncated or corrupt'):
        load_tool('train.py').main([config, '--resume', ckpt])


def test_head_channels_that_do_not_fit_the_arch_fail_at_build(tmp_path, ade_root, load_tool):
    config = smoke_config(tmp_path / 'cfg.py', TINY_CONFIG, ade_root, tmp_path / 'work',
                          model=dict(backbone=dict(arch='small')))
    with pytest.raises(ValueError) as error:
        load_tool('train.py').main([config])
    message = str(error.value)
    assert 'model.decode_head.in_channels=[128, 128, 128]' in message
    assert '[192, 192, 192]' in message and "arch='small'" in message
    assert not (tmp_path / 'work' / 'iter_1.pth').exists()


def build_retinanet(neck_channels):
    init_default_scope('mmdet')
    return MODELS.build(dict(
        type='RetinaNet',
        backbone=dict(type='mmhybrid.EdgeViT', arch='xxs', out_indices=(0, 1, 2, 3)),
        neck=dict(type='FPN', in_channels=neck_channels, out_channels=32, num_outs=4),
        bbox_head=dict(type='RetinaHead', num_classes=2, in_channels=32, feat_channels=32,
                       anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4,
                                             scales_per_octave=1, ratios=[1.0],
                                             strides=[8, 16, 32, 64]),
                       bbox_coder=dict(type='DeltaXYWHBBoxCoder'),
                       loss_cls=dict(type='FocalLoss', use_sigmoid=True),
                       loss_bbox=dict(type='L1Loss'))))


def test_feature_channel_check_for_necks():
    from mmhybrid.models.utils import check_feature_channels
    edgevit_xxs = [36, 72, 144, 288]
    model = build_retinanet(edgevit_xxs)
    modes = [m.training for m in model.modules()]
    assert check_feature_channels(model) == edgevit_xxs
    assert [m.training for m in model.modules()] == modes  # the probe restores train mode
    with pytest.raises(ValueError) as error:
        check_feature_channels(build_retinanet([64, 128, 320, 512]))
    assert 'model.neck.in_channels=[64, 128, 320, 512]' in str(error.value)
    assert "EdgeViT (arch='xxs')" in str(error.value) and str(edgevit_xxs) in str(error.value)
