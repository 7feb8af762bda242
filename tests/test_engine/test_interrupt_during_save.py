# Copyright (c) mmhybrid contributors. All rights reserved.
"""A Ctrl-C while a checkpoint is being saved ends the run as a ``KeyboardInterrupt``.

MMEngine formats the config into every checkpoint with yapf under a bare ``except:``; an
interrupt arriving there used to surface as ``SyntaxError: Failed to format the config file``
followed by the whole config. yapf is made to raise ``KeyboardInterrupt`` exactly where a
Ctrl-C during the formatting would.
"""
import os

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import DataLoader, TensorDataset

from mmhybrid.engine import AtomicCheckpointHook
from mmhybrid.utils.config import interrupts_stay_interrupts


class _Regression(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, targets=None, mode='tensor'):
        out = self.linear(inputs)
        return dict(loss=((out.squeeze(1) - targets)**2).mean()) if mode == 'loss' else out


def _collate(batch):
    inputs, targets = zip(*batch)
    return dict(inputs=torch.stack(inputs), targets=torch.stack(targets))


class _CtrlCInYapf:
    """Stands in for yapf's ``FormatCode``: raises ``KeyboardInterrupt`` while ``armed``."""

    def __init__(self, format_code):
        self.format_code, self.armed = format_code, True

    def __call__(self, *args, **kwargs):
        if self.armed:
            raise KeyboardInterrupt
        return self.format_code(*args, **kwargs)


@pytest.fixture
def ctrl_c_in_yapf(monkeypatch):
    import mmengine.config.config as mmengine_config
    fake = _CtrlCInYapf(mmengine_config.FormatCode)
    monkeypatch.setattr(mmengine_config, 'FormatCode', fake)
    return fake


def test_the_interrupt_passes_config_formatting_unchanged(ctrl_c_in_yapf):
    cfg = Config(dict(model=dict(type='Toy')))
    with pytest.raises(SyntaxError, match='Failed to format the config'):
        cfg.pretty_text  # what MMEngine does on its own
    with pytest.raises(KeyboardInterrupt), interrupts_stay_interrupts():
        cfg.pretty_text
    with pytest.raises(SyntaxError, match='a real one'), interrupts_stay_interrupts():
        raise SyntaxError('a real one')


def test_ctrl_c_during_a_checkpoint_save_is_a_keyboard_interrupt(tmp_path, ctrl_c_in_yapf):
    ctrl_c_in_yapf.armed = False
    data = TensorDataset(torch.randn(8, 2), torch.randn(8))
    runner = Runner(
        model=_Regression(), work_dir=str(tmp_path), experiment_name='interrupt',
        train_dataloader=DataLoader(data, batch_size=4, collate_fn=_collate),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=4),
        default_hooks=dict(checkpoint=AtomicCheckpointHook(interval=2, by_epoch=False)),
        default_scope='mmengine')
    save_checkpoint = runner.save_checkpoint

    def save_interrupted(*args, **kwargs):
        ctrl_c_in_yapf.armed = True
        return save_checkpoint(*args, **kwargs)

    runner.save_checkpoint = save_interrupted
    with pytest.raises(KeyboardInterrupt):
        runner.train()
    assert runner.iter == 1  # the save after the second iteration, which left no file
    assert not [name for name in os.listdir(tmp_path) if 'pth' in name]
