# Copyright (c) mmhybrid contributors. All rights reserved.
"""Settings that used to fail late, or never, are errors before ``tools/train.py`` builds
anything: hook arguments, ``save_best``/``rule``, ``load_from`` of another model, ``--resume``
with a changed config or with nothing left to train.

Before: a misspelt checkpoint-hook key failed at the first save and a ``save_best`` spelt with
the wrong case at the first validation; ``load_from`` of another architecture trained a half-
loaded model after warnings; ``--resume`` ignored a changed learning rate without a word and,
with ``max_iters`` below the checkpoint's iteration, exited 0 having done nothing.
"""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from smoke import make_smoke_config, write_training_config

from mmhybrid.apis.load_checks import ResumeConfigError, check_resume
from mmhybrid.apis.setting_checks import (
    check_hook_settings,
    evaluator_metric_names,
    hook_arguments,
)
from mmhybrid.testing import make_ade20k
from mmhybrid.utils.state_dict import CheckpointMismatchError

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY = osp.join(REPO, 'configs', 'topformer', 'topformer_t_ade20k.py')
SMALL = osp.join(REPO, 'configs', 'topformer', 'topformer_s_ade20k.py')
DETECTOR = osp.join(REPO, 'configs', 'edgevit', 'retinanet_edgevit-xxs_fpn_1x_coco.py')
CLASSIFIER = osp.join(REPO, 'configs', 'topformer', 'topformer-t_8xb128_in1k.py')


@pytest.fixture(scope='module')
def ade_root(tmp_path_factory):
    return make_ade20k(str(tmp_path_factory.mktemp('tiny')), num_train=2, num_val=1)


def write_config(path, ade_root, work_dir, config=TINY, **options):
    return write_training_config(path, config, ade_root, work_dir, max_iters=2,
                                 checkpoint_interval=2, **options)


def model_state(config):
    init_default_scope('mmseg')
    return MODELS.build(Config.fromfile(config).model).state_dict()


# ---- hook arguments and save_best -----------------------------------------------------------


def test_checkpoint_hook_takes_no_extra_keyword():
    from mmengine.hooks import CheckpointHook, LoggerHook

    from mmhybrid.engine import AtomicCheckpointHook
    assert 'max_keep_ckpts' in hook_arguments(AtomicCheckpointHook)
    assert hook_arguments(AtomicCheckpointHook) == hook_arguments(CheckpointHook)
    assert 'interval' in hook_arguments(LoggerHook)


def test_misspelt_checkpoint_hook_key_fails_before_the_runner(tmp_path, ade_root, load_tool):
    config = write_config(tmp_path / 'cfg.py', ade_root, tmp_path / 'work',
                          default_hooks=dict(checkpoint=dict(max_keep_ckpt=2)))
    with pytest.raises(TypeError) as error:
        load_tool('train.py').main([config])
    message = str(error.value)
    assert 'default_hooks.checkpoint.max_keep_ckpt' in message
    assert "did you mean 'max_keep_ckpts'" in message
    assert not osp.exists(tmp_path / 'work')  # refused before the runner started


def test_unknown_custom_hook_argument_is_named():
    cfg = Config(dict(custom_hooks=[dict(type='EMAHook', momentum=0.1, strict_load=True)]))
    assert check_hook_settings(cfg, 'mmseg') is None  # EMAHook passes **kwargs to the EMA model
    cfg.custom_hooks.append(dict(type='LoggerHook', interval_exp=10))
    with pytest.raises(TypeError, match=r"custom_hooks\[1\].interval_exp.*'interval_exp_name'"):
        check_hook_settings(cfg, 'mmseg')


def test_save_best_with_the_wrong_case_suggests_the_metric(tmp_path, ade_root, load_tool):
    cfg = make_smoke_config(TINY, {'ade20k': ade_root}, str(tmp_path / 'work'))
    cfg.default_hooks['checkpoint'] = dict(type='CheckpointHook', interval=2, save_best='miou')
    config = str(tmp_path / 'cfg.py')
    cfg.dump(config)
    with pytest.raises(ValueError) as error:
        load_tool('train.py').main([config])
    assert "save_best='miou'" in str(error.value) and "did you mean 'mIoU'" in str(error.value)


def test_save_best_without_validation_and_bad_rule_are_refused():
    cfg = Config(dict(default_hooks=dict(checkpoint=dict(type='CheckpointHook',
                                                         save_best='mIoU'))))
    with pytest.raises(ValueError, match='needs a validation'):
        check_hook_settings(cfg, 'mmseg')
    cfg.default_hooks.checkpoint.rule = 'bigger'
    with pytest.raises(ValueError, match="rule='bigger'"):
        check_hook_settings(cfg, 'mmseg')


@pytest.mark.parametrize('config,expected', [
    (TINY, ['aAcc', 'mIoU', 'mAcc']),
    (DETECTOR, ['coco/bbox_mAP', 'coco/bbox_mAP_50']),
    (CLASSIFIER, ['accuracy/top1', 'accuracy/top5']),
])
def test_every_task_config_names_its_metrics(config, expected):
    names, unknown = evaluator_metric_names(Config.fromfile(config).val_evaluator)
    assert unknown == [] and set(expected) <= set(names)


def test_predicted_names_are_what_the_metrics_return():
    """The names come from reading the metric classes; pin them against the real ones."""
    from mmpretrain.evaluation import Accuracy
    from mmpretrain.structures import DataSample
    from mmseg.evaluation import IoUMetric

    iou = IoUMetric(iou_metrics=['mIoU', 'mFscore'])
    iou.dataset_meta = dict(classes=('a', 'b'))
    label = torch.tensor([[0, 1], [1, 1]])
    iou.process([], [dict(pred_sem_seg=dict(data=label[None]),
                          gt_sem_seg=dict(data=label[None]))])
    names, _ = evaluator_metric_names(dict(type='IoUMetric', iou_metrics=['mIoU', 'mFscore']))
    assert sorted(iou.evaluate(1)) == sorted(names)

    accuracy = Accuracy(topk=(1, 2))
    sample = DataSample().set_pred_score(torch.tensor([0.1, 0.7, 0.2])).set_gt_label(1)
    accuracy.process([], [sample.to_dict()])
    names, _ = evaluator_metric_names(dict(type='Accuracy', topk=(1, 2)))
    assert sorted(accuracy.evaluate(1)) == sorted(names)


# ---- load_from ------------------------------------------------------------------------------


def test_load_from_of_another_arch_fails_before_datasets(tmp_path, ade_root, load_tool):
    small = str(tmp_path / 'small.pth')
    torch.save(dict(state_dict=model_state(write_config(tmp_path / 's.py', ade_root,
                                                        tmp_path / 'w', SMALL))), small)
    config = write_config(tmp_path / 'cfg.py', ade_root, tmp_path / 'work', load_from=small)
    with pytest.raises(CheckpointMismatchError) as error:
        load_tool('train.py').main([config])
    message = str(error.value)
    assert 'small.pth' in message and 'load_from_strict=False' in message
    assert not osp.exists(tmp_path / 'work' / 'iter_2.pth')


@pytest.mark.slow
def test_load_from_non_strict_lists_what_did_not_load_and_trains(tmp_path, ade_root,
                                                                 load_tool, capsys):
    state = model_state(write_config(tmp_path / 's.py', ade_root, tmp_path / 'w'))
    partial = str(tmp_path / 'partial.pth')
    torch.save(dict(state_dict={k: v for k, v in state.items()
                                if not k.startswith('decode_head.')}), partial)
    config = write_config(tmp_path / 'cfg.py', ade_root, tmp_path / 'work', load_from=partial,
                          load_from_strict=False)
    load_tool('train.py').main([config])
    out = capsys.readouterr().out
    assert 'load_from_strict=False' in out and 'decode_head.conv_seg.weight' in out
    assert osp.isfile(tmp_path / 'work' / 'iter_2.pth')


# ---- --resume -------------------------------------------------------------------------------


def checkpoint_of(cfg, iteration):
    return dict(meta=dict(iter=iteration, epoch=0, cfg=cfg.pretty_text))


def test_resume_with_a_changed_config_lists_and_refuses_it():
    old = Config.fromfile(TINY)
    new = Config.fromfile(TINY)
    new.optim_wrapper.optimizer.lr = old.optim_wrapper.optimizer.lr * 2
    new.train_dataloader.batch_size = 7
    new.train_dataloader.num_workers = 0  # speed only: not a change of what is trained
    with pytest.raises(ResumeConfigError) as error:
        check_resume(checkpoint_of(old, 100), 'iter_100.pth', new)
    message = str(error.value)
    assert 'optim_wrapper.optimizer.lr' in message and 'train_dataloader.batch_size' in message
    assert 'num_workers' not in message and '--resume-with-changes' in message
    lines = check_resume(checkpoint_of(old, 100), 'iter_100.pth', new, allow_changes=True)
    assert f'train_dataloader.batch_size: {old.train_dataloader.batch_size!r} -> 7' in lines[0]
    assert 'optim_wrapper.optimizer.lr' in lines[1] and 'Not in effect' in lines[1]
    assert check_resume(checkpoint_of(old, 100), 'iter_100.pth', old) == []


def test_resume_with_nothing_left_to_train_is_an_error():
    cfg = Config.fromfile(TINY)
    cfg.train_cfg.max_iters = 100
    with pytest.raises(ResumeConfigError, match='at iter 160 and train_cfg.max_iters=100'):
        check_resume(checkpoint_of(cfg, 160), 'iter_160.pth', cfg)


@pytest.mark.slow
def test_train_tool_resume_with_a_changed_lr_is_refused_before_training(tmp_path, ade_root,
                                                                        load_tool):
    work_dir = tmp_path / 'work'
    config = write_config(tmp_path / 'cfg.py', ade_root, work_dir)
    load_tool('train.py').main([config])
    before = (work_dir / 'iter_2.pth').read_bytes()
    with pytest.raises(ResumeConfigError, match='optim_wrapper.optimizer.lr'):
        load_tool('train.py').main([config, '--resume', '--cfg-options',
                                    'optim_wrapper.optimizer.lr=0.5', 'train_cfg.max_iters=4'])
    with pytest.raises(ResumeConfigError, match='nothing left to train'):
        load_tool('train.py').main([config, '--resume'])
    assert (work_dir / 'iter_2.pth').read_bytes() == before
    assert not (work_dir / 'iter_4.pth').exists()


@pytest.mark.slow  # loads every config (about a minute on 2 cores)
def test_every_shipped_config_passes_the_start_up_checks():
    """The checks refuse settings, never a shipped recipe."""
    import glob

    from mmhybrid.apis.short_run import check_loop_settings
    configs = sorted(glob.glob(osp.join(REPO, 'configs', '*', '*.py')))
    assert len(configs) > 50
    for path in configs:
        cfg = Config.fromfile(path)
        check_loop_settings(cfg)
        assert check_hook_settings(cfg, cfg.default_scope) is None, path
