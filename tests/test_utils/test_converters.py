# Copyright (c) mmhybrid contributors. All rights reserved.
import argparse

import pytest
import torch
import torch.nn as nn

from mmhybrid.utils.converters import (
    CheckpointLoadError,
    UnsafeCheckpointError,
    load_source_checkpoint,
    run_converter_cli,
    select_state_dict,
    verify_classifier_weights,
)


def test_load_source_checkpoint_is_safe_unless_allowed(tmp_path):
    path = str(tmp_path / 'ckpt.pth')
    torch.save({'model': {'w': torch.ones(1)}, 'args': argparse.Namespace(lr=1)}, path)
    with pytest.raises(UnsafeCheckpointError,
                       match='argparse.Namespace .*If you trust the file, re-run with '
                       '--allow-pickle'):
        load_source_checkpoint(path)
    # the pre-1.6 (non-zip) format names the refused global the same way
    torch.save({'model': {'w': torch.ones(1)}, 'args': argparse.Namespace(lr=1)}, path,
               _use_new_zipfile_serialization=False)
    with pytest.raises(UnsafeCheckpointError, match='--allow-pickle'):
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


@pytest.mark.parametrize('new_format', [True, False])
def test_broken_files_are_not_sent_to_allow_pickle(tmp_path, new_format):
    """Empty, truncated and text files are reported as such (with their size), never as files
    that need --allow-pickle; also not when pickle loading is already allowed."""
    good = tmp_path / 'good.pth'
    torch.save({'model': {'w': torch.ones(256)}}, good,
               _use_new_zipfile_serialization=new_format)
    data = good.read_bytes()
    cases = {'empty.pth': (b'', 'empty'), 'truncated.pth': (data[:len(data) // 2], 'truncated'),
             'text.pth': (b'hello, this is not a checkpoint\n', 'corrupt'),
             'json.pth': (b'{"model": {}}', 'not a PyTorch checkpoint')}
    for name, (content, word) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        for allow_pickle in (False, True):
            with pytest.raises(CheckpointLoadError) as info:
                load_source_checkpoint(str(path), allow_pickle=allow_pickle)
            message = str(info.value)
            assert not isinstance(info.value, UnsafeCheckpointError), message
            assert word in message and f'({len(content)} bytes)' in message, message
            assert 'allow-pickle' not in message and 'allow_pickle' not in message


def test_missing_or_folder_source(tmp_path):
    with pytest.raises(FileNotFoundError, match='nothing.pth does not exist'):
        load_source_checkpoint(str(tmp_path / 'nothing.pth'))
    with pytest.raises(IsADirectoryError, match='is a folder'):
        load_source_checkpoint(str(tmp_path))


def test_run_converter_cli_reports_errors(capsys):

    def failing_main(argv):
        raise KeyError(f'no weights in {argv[0]}')

    assert run_converter_cli(failing_main, ['a.pth']) == 1
    assert capsys.readouterr().err == 'error: no weights in a.pth\n'
    assert run_converter_cli(lambda argv: None, []) == 0
