# Copyright (c) mmhybrid contributors. All rights reserved.
"""What the three checkpoint converters do with their destination and with broken sources.

Every converter must refuse to write over its source (also through a link, also with
``--force``), refuse an existing destination unless ``--force``, write atomically (a failure
while saving leaves nothing, or the old file, under the final name, and no temporary file), and
tell a broken source apart from one that only needs ``--allow-pickle``.
"""
import argparse
import os
from collections import OrderedDict

import pytest
import torch

from mmhybrid.models.backbones.edgevit import EdgeViT
from mmhybrid.utils.fileio import TEMP_PREFIX

#: A tiny custom EdgeViT (the converter infers custom architectures).
EDGEVIT_ARCH = dict(depths=[1, 1, 1, 1], embed_dims=[8, 16, 24, 32], num_heads=[1, 1, 1, 1],
                    mlp_ratios=[2, 2, 2, 2], sr_ratios=[4, 2, 2, 1])


def edgevit_source():
    state = OrderedDict(EdgeViT(EDGEVIT_ARCH, final_norm=True).state_dict())
    state.update({'head.weight': torch.zeros(3, 32), 'head.bias': torch.zeros(3)})
    return dict(model=state)


def hatnet_source():
    from mmhybrid.models.backbones.hatnet import HATNet
    backbone = HATNet('tiny')
    state = OrderedDict(backbone.state_dict())
    state.update({'classifier.1.weight': torch.zeros(3, backbone.embed_dims[-1]),
                  'classifier.1.bias': torch.zeros(3)})
    return dict(model=state)


def topformer_source():
    pytest.importorskip('mmpretrain')
    from mmhybrid.models import TopFormer
    from mmhybrid.models.heads.topformer_cls_head import TopFormerClsHead
    state = OrderedDict(TopFormer('tiny', mode='global').state_dict())
    state.update((f'head.{k}', v)
                 for k, v in TopFormerClsHead(num_classes=3, in_channels=208).state_dict().items())
    return dict(state_dict_ema=state)


CONVERTERS = {
    'edgevit': edgevit_source,
    'hatnet': hatnet_source,
    'topformer': topformer_source,
}


@pytest.fixture(params=sorted(CONVERTERS))
def converter_and_source(request, load_tool, tmp_path):
    """(converter module, path of a small valid source checkpoint) for each converter."""
    module = load_tool(f'model_converters/{request.param}2mmhybrid.py')
    src = tmp_path / 'source.pth'
    torch.save(CONVERTERS[request.param](), src)
    return module, src


def temporary_files(folder):
    return [name for name in os.listdir(folder) if name.startswith(TEMP_PREFIX)]


@pytest.mark.parametrize('force', [False, True])
def test_source_as_destination_is_refused(converter_and_source, tmp_path, force, capsys):
    converter, src = converter_and_source
    original = src.read_bytes()
    link = tmp_path / 'link.pth'
    link.symlink_to(src)
    for dst in (src, link):
        status = converter.run_converter_cli(
            converter.main, [str(src), str(dst)] + (['--force'] if force else []))
        assert status == 1
        assert 'is the source file' in capsys.readouterr().err
        assert src.read_bytes() == original
        assert link.is_symlink()
    assert temporary_files(tmp_path) == []


def test_existing_destination_needs_force(converter_and_source, tmp_path, capsys):
    converter, src = converter_and_source
    dst = tmp_path / 'out.pth'
    dst.write_bytes(b'a file the user wants to keep')
    assert converter.run_converter_cli(converter.main, [str(src), str(dst)]) == 1
    err = capsys.readouterr().err
    assert err.startswith('error: ') and '--force' in err
    assert dst.read_bytes() == b'a file the user wants to keep'

    assert converter.run_converter_cli(converter.main, [str(src), str(dst), '--force']) == 0
    assert 'state_dict' in torch.load(dst, map_location='cpu')
    assert temporary_files(tmp_path) == []


def test_failure_while_saving_leaves_no_partial_file(converter_and_source, tmp_path,
                                                     monkeypatch):
    """A save interrupted half-way (a kill, a full disk) never leaves a file under DST."""
    converter, src = converter_and_source
    dst = tmp_path / 'out.pth'
    real_save = torch.save

    def interrupted_save(obj, path, *args, **kwargs):
        real_save(obj, path, *args, **kwargs)
        with open(path, 'r+b') as file:  # half of the file, then the "kill"
            file.truncate(os.path.getsize(path) // 2)
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, 'save', interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        converter.main([str(src), str(dst)])
    assert not dst.exists()
    dst.write_bytes(b'old')
    with pytest.raises(KeyboardInterrupt):
        converter.main([str(src), str(dst), '--force'])
    assert dst.read_bytes() == b'old'
    assert temporary_files(tmp_path) == []


def _broken_sources(folder):
    """Files that are not checkpoints: (path, size in bytes, word the message must use)."""
    torch.save({'w': torch.zeros(64)}, folder / 'good.pth')
    data = (folder / 'good.pth').read_bytes()
    files = {'empty.pth': b'', 'truncated.pth': data[:len(data) // 2],
             'text.pth': b'model:\n  type: TopFormer\n'}
    for name, content in files.items():
        (folder / name).write_bytes(content)
    return [(folder / 'empty.pth', 0, 'empty'),
            (folder / 'truncated.pth', len(data) // 2, 'truncated'),
            (folder / 'text.pth', len(files['text.pth']), 'corrupt')]


@pytest.mark.parametrize('allow_pickle', [False, True])
def test_broken_source_is_reported_as_broken(converter_and_source, tmp_path, capsys,
                                             allow_pickle):
    converter, _ = converter_and_source
    for path, size, word in _broken_sources(tmp_path):
        argv = [str(path), str(tmp_path / 'out.pth')] + (['--allow-pickle'] if allow_pickle
                                                        else [])
        assert converter.run_converter_cli(converter.main, argv) == 1
        err = capsys.readouterr().err
        assert err.startswith('error: ') and word in err and f'{size} bytes' in err, err
        assert '--allow-pickle' not in err
    assert not (tmp_path / 'out.pth').exists()
    assert temporary_files(tmp_path) == []


def test_pickled_namespace_suggests_allow_pickle(converter_and_source, tmp_path, capsys):
    converter, src = converter_and_source
    checkpoint = torch.load(src, map_location='cpu')
    checkpoint['args'] = argparse.Namespace(model='x')
    torch.save(checkpoint, src)
    dst = tmp_path / 'out.pth'
    assert converter.run_converter_cli(converter.main, [str(src), str(dst)]) == 1
    err = capsys.readouterr().err
    assert '--allow-pickle' in err and 'argparse.Namespace' in err
    assert not dst.exists()
    assert converter.run_converter_cli(converter.main,
                                       [str(src), str(dst), '--allow-pickle']) == 0


def test_missing_source_is_named(converter_and_source, tmp_path, capsys):
    converter, _ = converter_and_source
    missing = tmp_path / 'missing.pth'
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        converter.main([str(missing), str(tmp_path / 'out.pth')])
    assert converter.run_converter_cli(converter.main,
                                       [str(missing), str(tmp_path / 'out.pth')]) == 1
    assert 'missing.pth does not exist' in capsys.readouterr().err
