# Copyright (c) mmhybrid contributors. All rights reserved.
"""``tools/train.py CONFIG --data-root DIR --iters N``: any config as a short run, and the
settings MMEngine or torch would refuse later refused up front.

Before: a short run took the 16-line override list of ``tools/demo.sh`` (pipeline indices
included), a schedule shorter than its warm-up failed with ``end should be larger than begin``
and ``persistent_workers`` without workers with torch's ``persistent_workers option needs
num_workers > 0``; overriding ``data_root`` left COCO's ``ann_file`` behind.
"""
import os.path as osp
import re
import subprocess
import sys

import pytest
from helpers import read_scalars
from mmengine.config import Config

from mmhybrid.apis.short_run import check_loop_settings, follow_data_root, shorten_schedule
from mmhybrid.testing import make_ade20k

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SEGMENTER = osp.join(REPO, 'configs', 'topformer', 'topformer_t_ade20k.py')
DETECTOR = osp.join(REPO, 'configs', 'edgevit', 'retinanet_edgevit-xxs_fpn_1x_coco.py')
CLASSIFIER = osp.join(REPO, 'configs', 'topformer', 'topformer-t_8xb128_in1k.py')


def test_iterations_scale_warm_up_schedule_and_intervals():
    cfg = Config.fromfile(SEGMENTER)
    warm_up, poly = cfg.param_scheduler
    assert (warm_up.end, poly.end, cfg.train_cfg.max_iters) == (1500, 160000, 160000)
    changes = shorten_schedule(cfg, iters=320)
    assert cfg.train_cfg.max_iters == 320 and cfg.train_cfg.val_interval == 320
    assert [s.end for s in cfg.param_scheduler] == [3, 320]  # 1500 * 320 / 160000
    assert cfg.default_hooks.checkpoint.interval == 320
    assert cfg.default_hooks.logger.interval == 32
    assert 'param_scheduler[0].end: 1500 -> 3' in changes
    check_loop_settings(cfg)


def _learning_rates(cfg, iters):
    """The learning rate of each of ``iters`` iterations under the config's schedulers, as
    MMEngine's ``ParamSchedulerHook`` steps them."""
    import torch
    from mmengine.optim import OptimWrapper
    from mmengine.registry import PARAM_SCHEDULERS

    base_lr = cfg.optim_wrapper.optimizer.lr
    wrapper = OptimWrapper(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base_lr))
    schedulers = [PARAM_SCHEDULERS.build(dict(s, optimizer=wrapper))
                  for s in cfg.param_scheduler]
    rates = []
    for _ in range(iters):
        rates.append(wrapper.get_lr()['lr'][0])
        wrapper.step()
        for scheduler in schedulers:
            scheduler.step()
    return base_lr, rates


@pytest.mark.parametrize('iters', [20, 400])
def test_a_short_run_warms_up_to_the_base_learning_rate(iters):
    """A warm-up scaled to a single iteration never ended (MMEngine steps a scheduler only
    before its end): a 20-iteration run trained at 1e-6 times the learning rate throughout."""
    cfg = Config.fromfile(SEGMENTER)
    shorten_schedule(cfg, iters=iters)
    check_loop_settings(cfg)
    base_lr, rates = _learning_rates(cfg, iters)
    warm_up_end = cfg.param_scheduler[0].end
    assert warm_up_end == max(2, round(1500 * iters / 160000))  # 2 for 20 iterations, 4 for 400
    assert rates[0] < 1e-3 * base_lr  # the warm-up starts at start_factor=1e-6
    assert rates[warm_up_end] > 0.8 * base_lr  # ... and ends at the poly schedule's value


def test_epochs_scale_milestones_and_keep_the_iteration_warm_up():
    cfg = Config.fromfile(DETECTOR)
    shorten_schedule(cfg, epochs=3)
    warm_up, steps = cfg.param_scheduler
    assert cfg.train_cfg.max_epochs == 3 and warm_up.end == 500  # iterations: kept
    assert steps.milestones == [2, 3] and steps.end == 3  # [8, 11] of 12 epochs
    check_loop_settings(cfg)


def test_the_flag_must_fit_the_loop():
    with pytest.raises(ValueError, match='trains by epochs.*use --epochs'):
        shorten_schedule(Config.fromfile(DETECTOR), iters=10)
    with pytest.raises(ValueError, match='trains by iterations.*use --iters'):
        shorten_schedule(Config.fromfile(SEGMENTER), epochs=1)
    with pytest.raises(ValueError, match='positive'):
        shorten_schedule(Config.fromfile(SEGMENTER), iters=0)


def test_data_root_moves_every_dataset_and_the_coco_annotation_file():
    cfg = Config.fromfile(DETECTOR)
    old_ann = cfg.val_evaluator.ann_file
    follow_data_root(cfg, '/tmp/tiny/coco')
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert cfg[key].dataset.data_root == '/tmp/tiny/coco'
    assert cfg.val_evaluator.ann_file == '/tmp/tiny/coco/annotations/instances_val2017.json'
    assert old_ann.endswith('annotations/instances_val2017.json')
    assert cfg.test_evaluator.ann_file == cfg.val_evaluator.ann_file


def test_data_root_of_the_test_split_only():
    cfg = Config.fromfile(CLASSIFIER)
    old = cfg.train_dataloader.dataset.data_root
    follow_data_root(cfg, '/tmp/tiny/imagenet', dataloader_keys=('test_dataloader', ))
    assert cfg.test_dataloader.dataset.data_root == '/tmp/tiny/imagenet'
    assert cfg.train_dataloader.dataset.data_root == old


@pytest.mark.parametrize('options,message', [
    ({'train_dataloader.num_workers': 0, 'train_dataloader.persistent_workers': True},
     'train_dataloader.persistent_workers=True needs worker processes'),
    ({'param_scheduler.1.end': 300}, r'param_scheduler\[1\] \(PolyLR\): begin=1500'),
    ({'train_cfg.max_iters': 1000}, r'param_scheduler\[1\] \(PolyLR\) begins at iteration 1500'),
    ({'param_scheduler.0.end': 1}, r'param_scheduler\[0\] \(LinearLR\) spans one iteration '
     r'\(begin=0, end=1\).*never leaves its start factor.*end >= 2'),
])
def test_settings_torch_and_mmengine_refuse_later_are_refused_now(options, message):
    cfg = Config.fromfile(SEGMENTER)
    cfg.param_scheduler[1].begin = 1500  # a poly schedule after a 1500-iteration warm-up
    cfg.merge_from_dict(options)
    with pytest.raises(ValueError, match=message):
        check_loop_settings(cfg)


@pytest.mark.slow
def test_train_tool_short_run_of_the_real_config(tmp_path):
    """The real TopFormer-T ADE20K config, its real pipelines, two flags (and no ImageNet
    weights): trains, validates and saves at the end."""
    ade_root = make_ade20k(str(tmp_path / 'tiny'), num_train=2, num_val=2)
    work_dir = tmp_path / 'work'
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', SEGMENTER, '--data-root', ade_root, '--iters', '2',
         '--work-dir', str(work_dir), '--cfg-options', 'model.backbone.init_cfg=None'],
        cwd=REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    short_run = [line for line in lines if line.startswith('short run:')]
    assert len(short_run) == 2 and 'train_cfg.max_iters: 160000 -> 2' in short_run[0]
    assert f'train_dataloader.dataset.data_root: data/ade/ADEChallengeData2016 -> {ade_root}' \
        in short_run[0]
    assert (work_dir / 'iter_2.pth').is_file()
    assert any('mIoU' in record for record in read_scalars(work_dir))
    # A screenful on the terminal (it was ~640 lines: environment, config, hooks, a 150-class
    # table), every line in the log file it names, and no library deprecation chatter.
    log_file = short_run[1].rsplit(' ', 1)[-1]
    assert osp.dirname(osp.dirname(log_file)) == str(work_dir)
    with open(log_file) as file:
        log = file.read()
    assert 'Config:' in log and 'per class results' in log and log.count('\n') > 500
    assert len(lines) < 25, proc.stdout
    assert any(re.search(r'Iter\(train\) \[2/2\].*loss: \d', line) for line in lines)
    assert any(re.search(r'Iter\(val\) \[2/2\].*mIoU: \d', line) for line in lines)
    assert not [line for line in lines if 'WARNING' in line or 'ERROR' in line]

