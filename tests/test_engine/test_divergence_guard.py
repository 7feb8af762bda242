# Copyright (c) mmhybrid contributors. All rights reserved.
"""A diverging run stops, and no loader accepts a checkpoint with NaN or infinite weights.

Before: a run whose loss was NaN from iteration 4 trained to the end, saved checkpoints of
mostly NaN weights, ``tools/test.py`` reported an mIoU for them and ``get_model`` loaded them.
"""
import os
import os.path as osp
import uuid

import pytest
import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.logging import MessageHub
from mmengine.registry import HOOKS
from smoke import write_training_config

from mmhybrid.engine import DivergenceError, DivergenceGuardHook
from mmhybrid.testing import make_ade20k
from mmhybrid.utils.state_dict import NonFiniteCheckpointError, non_finite_tensors

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'topformer', 'topformer_t_ade20k.py')
POISONED = 'decode_head.conv_seg.weight'


@HOOKS.register_module(force=True)
class PoisonWeightsHook(Hook):
    """Test-only: put a NaN into one weight before iteration ``at`` (1-based), as a NaN
    gradient applied by the previous step would."""

    def __init__(self, at: int):
        self.at = at

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter + 1 == self.at:
            with torch.no_grad():
                dict(runner.model.named_parameters())[POISONED].view(-1)[0] = float('nan')


@pytest.fixture(scope='module')
def ade_root(tmp_path_factory):
    return make_ade20k(str(tmp_path_factory.mktemp('tiny')), num_train=2, num_val=1)


def write_config(path, ade_root, work_dir, max_iters, **options):
    return write_training_config(path, CONFIG, ade_root, work_dir, max_iters,
                                 checkpoint_interval=2, **options)


class FakeRunner:
    """What the guard reads of a runner: the model, the iteration, the message hub."""

    def __init__(self, model):
        self.model = model
        self.iter = 0
        # a hub of its own: a named one is process-global, and a 'last_ckpt' left by another
        # test would change the message
        self.message_hub = MessageHub.get_instance(f'test_divergence_guard-{uuid.uuid4()}')


def run_iterations(hook, runner, losses):
    for index, loss in enumerate(losses):
        runner.iter = index
        hook.after_train_iter(runner, index, outputs=dict(loss=torch.tensor(loss),
                                                          acc=torch.tensor(float('nan'))))


def test_isolated_non_finite_losses_pass_and_a_persistent_one_stops():
    """AMP's loss scaler skips steps with overflowing gradients: the weights stay finite and a
    few non-finite iterations are normal; ``patience`` of them in a row are not."""
    runner = FakeRunner(nn.Linear(2, 2))
    hook = DivergenceGuardHook(patience=3)
    run_iterations(hook, runner, [1.0, float('inf'), float('nan'), 0.9, float('inf'), 0.8])
    with pytest.raises(DivergenceError) as error:
        run_iterations(hook, runner, [0.7, float('nan'), float('nan'), float('nan')])
    message = str(error.value)
    assert 'iteration 4' in message and 'from iteration 2' in message
    assert 'loss=nan' in message and 'saved no checkpoint' in message


def test_non_finite_weights_stop_at_once_naming_the_tensor_and_last_checkpoint():
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    runner = FakeRunner(model)
    runner.message_hub.update_info('last_ckpt', 'work/iter_2.pth')
    with torch.no_grad():
        model[1].running_var[0] = float('inf')
    with pytest.raises(DivergenceError) as error:
        run_iterations(DivergenceGuardHook(), runner, [1.0])
    message = str(error.value)
    assert 'iteration 1' in message and '1.running_var' in message
    assert 'work/iter_2.pth' in message


def test_patience_is_validated():
    with pytest.raises(ValueError, match='patience'):
        DivergenceGuardHook(patience=0)


@pytest.mark.slow
def test_diverging_run_stops_before_saving_and_names_the_last_good_checkpoint(
        tmp_path, ade_root, load_tool):
    work_dir = tmp_path / 'work'
    config = write_config(tmp_path / 'cfg.py', ade_root, work_dir, max_iters=8,
                          custom_hooks=[dict(type='PoisonWeightsHook', at=4)])
    with pytest.raises(DivergenceError) as error:
        load_tool('train.py').main([config])
    message = str(error.value)
    assert 'Training diverged at iteration 4' in message
    assert 'decode.loss_ce=nan' in message and 'iter_2.pth' in message
    saved = sorted(name for name in os.listdir(work_dir) if name.endswith('.pth'))
    assert saved == ['iter_2.pth']
    state = torch.load(str(work_dir / 'iter_2.pth'), map_location='cpu')['state_dict']
    assert non_finite_tensors(state) == []


@pytest.mark.slow
def test_the_guard_can_be_turned_off_but_no_nan_checkpoint_is_written(tmp_path, ade_root,
                                                                       load_tool):
    work_dir = tmp_path / 'work'
    config = write_config(tmp_path / 'cfg.py', ade_root, work_dir, max_iters=6,
                          divergence_guard=False,
                          custom_hooks=[dict(type='PoisonWeightsHook', at=3)])
    with pytest.raises(DivergenceError, match='Not saving iter_4.pth at iteration 4'):
        load_tool('train.py').main([config])
    assert sorted(n for n in os.listdir(work_dir) if n.endswith('.pth')) == ['iter_2.pth']


# ---- every loader refuses non-finite weights ------------------------------------------------


@pytest.fixture(scope='module')
def nan_checkpoint(tmp_path_factory, ade_root):
    """A whole-model TopFormer-T checkpoint with one NaN, as a diverged run writes it."""
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope

    folder = tmp_path_factory.mktemp('nan')
    config = write_config(folder / 'cfg.py', ade_root, folder / 'work', max_iters=2)
    cfg = Config.fromfile(config)
    init_default_scope('mmseg')
    state = MODELS.build(cfg.model).state_dict()
    state[POISONED] = state[POISONED].clone()
    state[POISONED].view(-1)[3] = float('nan')
    path = str(folder / 'diverged.pth')
    torch.save(dict(meta=dict(iter=2), state_dict=state), path)
    return config, path


def check_names_the_tensor(error):
    message = str(error.value)
    assert 'diverged.pth' in message and POISONED in message and 'NaN' in message


def test_test_tool_refuses_it(tmp_path, nan_checkpoint, load_tool):
    config, path = nan_checkpoint
    with pytest.raises(NonFiniteCheckpointError) as error:
        load_tool('test.py').main([config, path, '--work-dir', str(tmp_path / 't')])
    check_names_the_tensor(error)


def test_test_tool_non_strict_refuses_it_too(tmp_path, nan_checkpoint, load_tool):
    config, path = nan_checkpoint
    with pytest.raises(NonFiniteCheckpointError):
        load_tool('test.py').main(
            [config, path, '--non-strict', '--work-dir', str(tmp_path / 't')])


@pytest.mark.parametrize('how', ['load_from', 'resume'])
def test_train_tool_refuses_it_before_training(tmp_path, nan_checkpoint, load_tool, how):
    config, path = nan_checkpoint
    work_dir = tmp_path / 'work'
    args = ['--cfg-options', f'load_from={path}'] if how == 'load_from' else ['--resume', path]
    with pytest.raises(NonFiniteCheckpointError) as error:
        load_tool('train.py').main([config, '--work-dir', str(work_dir), *args])
    check_names_the_tensor(error)
    assert not any(name.endswith('.pth') for name in os.listdir(work_dir))


def test_get_model_refuses_it(nan_checkpoint):
    from mmhybrid.apis import get_model
    config, path = nan_checkpoint
    with pytest.raises(NonFiniteCheckpointError) as error:
        get_model(config, pretrained=path, device='cpu')
    check_names_the_tensor(error)


def test_export_and_quantize_model_builder_refuses_it(nan_checkpoint):
    from mmhybrid.tasks import build_task_model
    config, path = nan_checkpoint
    with pytest.raises(NonFiniteCheckpointError) as error:
        build_task_model(config, checkpoint=path)
    check_names_the_tensor(error)


def test_converters_refuse_it(tmp_path):
    from mmhybrid.utils.converters import load_source_checkpoint
    weights = {'patch_embed.weight': torch.zeros(2, 2), 'head.bias': torch.tensor([1., -1.])}
    weights['head.bias'][1] = float('-inf')
    path = str(tmp_path / 'diverged.pth')
    torch.save(dict(model=weights, optimizer=dict(state={})), path)
    with pytest.raises(NonFiniteCheckpointError, match=r"diverged.pth \('model'\).*head.bias"):
        load_source_checkpoint(path)


def test_backbone_init_cfg_refuses_it(tmp_path):
    from mmhybrid.models import EdgeViT
    state = EdgeViT('xxs').state_dict()
    name = next(iter(state))
    state[name] = torch.full_like(state[name], float('nan'))
    path = str(tmp_path / 'diverged.pth')
    torch.save(state, path)
    backbone = EdgeViT('xxs', init_cfg=dict(type='Pretrained', checkpoint=path))
    with pytest.raises(NonFiniteCheckpointError, match=name):
        backbone.init_weights()
