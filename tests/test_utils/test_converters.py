# Copyright (c) mmhybrid contributors. All rights reserved.
import argparse

import pytest
import torch
import torch.nn as nn

from mmhybrid.utils.converters import (load_source_checkpoint, select_state_dict,
                                       verify_classifier_weights)


def test_load_source_checkpoint_is_safe_unless_allowed(tmp_path):
    path = str(tmp_path / 'ckpt.pth')
    torch.save({'model': {'w': torch.ones(1)}, 'args': argparse.Namespace(lr=1)}, path)
    with pytest.raises(SystemExit, match='--allow-pickle'):
        load_source_checkpoint(path)
    assert load_source_checkpoint(path, allow_pickle=True)['args'].lr == 1
    torch.save([torch.ones(1)], path)
    with pytest.raises(TypeError, match='Expected a dict checkpoint'):
        load_source_checkpoint(path)


def test_select_state_dict_wrappers_ema_and_ddp_prefix():
    weights = {'module.a': torch.zeros(1), 'b': torch.ones(1)}
    state, origin = select_state_dict({'model': weights, 'epoch': 3}, ('model', ), 'X')
    assert origin == 'model' and list(state) == ['a', 'b']
    state, origin = select_state_dict(dict(weights), ('model', ), 'X')
    assert origin == 'raw state dict'
    ema, origin = select_state_dict({'model': weights, 'model_ema': {'a': torch.ones(1)}},
                                    ('model', ), 'X', ema=True)
    assert origin == 'model_ema' and torch.equal(ema['a'], torch.ones(1))
    with pytest.raises(KeyError, match='no "model_ema"'):
        select_state_dict({'model': weights}, ('model', ), 'X', ema=True)
    with pytest.raises(KeyError, match='Not a X checkpoint'):
        select_state_dict({'optimizer': {}, 'epoch': 1}, ('model', ), 'X')


def test_verify_classifier_weights_is_strict():
    backbone = nn.Linear(2, 3)
    good = {'backbone.weight': torch.zeros(3, 2), 'backbone.bias': torch.zeros(3),
            'head.fc.weight': torch.zeros(10, 3), 'head.fc.bias': torch.zeros(10)}
    verify_classifier_weights(backbone, good, False, 3, 'Linear', 'head')
    with pytest.raises(RuntimeError, match='Linear classifier on 4 channels'):
        verify_classifier_weights(backbone, good, False, 4, 'Linear', 'head')
    missing = {k: v for k, v in good.items() if k != 'backbone.bias'}
    with pytest.raises(RuntimeError, match='do not match Linear'):
        verify_classifier_weights(backbone, missing, False, 3, 'Linear', 'head')
