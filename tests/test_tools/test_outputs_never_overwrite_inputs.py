# Copyright (c) mmhybrid contributors. All rights reserved.
"""No output of tools/test.py or tools/deployment/quantize.py ever overwrites an input, with or
without ``--force``, and ``--out FILE.pkl`` is never half-written.

Inputs are the checkpoint, the config and every dataset folder and file of the config; outputs
are compared with them resolved (links, ``./`` and ``..`` spellings, hard links). A refused run
leaves every input byte-identical and builds nothing (no work dir).
"""
import builtins
import errno
import hashlib
import os
import os.path as osp
import pickle

import pytest
import torch
from helpers import load_tool
from mmengine.registry import DefaultScope
from smoke import make_smoke_config

from mmhybrid.testing import make_ade20k
from mmhybrid.utils.fileio import check_outputs, config_inputs

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'topformer', 'topformer_t_ade20k.py')
LABELS = 'dataloader.dataset.data_prefix.seg_map_path'  # val or test: the same folder


def snapshot(*roots) -> dict:
    """``{path: sha256}`` of every file under ``roots`` (files or folders)."""
    digests = {}
    for root in roots:
        paths = [root] if osp.isfile(root) else [
            osp.join(folder, name) for folder, _, names in os.walk(root) for name in names]
        for path in paths:
            with open(path, 'rb') as file:
                digests[path] = hashlib.sha256(file.read()).hexdigest()
    return digests


@pytest.fixture(scope='module')
def ade_root(tmp_path_factory):
    return make_ade20k(str(tmp_path_factory.mktemp('tiny')), num_train=2, num_val=2,
                       size=(64, 48))


@pytest.fixture(scope='module')
def smoke(tmp_path_factory, ade_root):
    """A shrunk TopFormer-T config on the tiny ADE20K and a checkpoint of its random weights
    saved as ``model.pkl`` (a name ``--out`` accepts)."""
    folder = tmp_path_factory.mktemp('smoke')
    cfg = make_smoke_config(CONFIG, {'ade20k': ade_root}, str(folder / 'work'))
    config = str(folder / 'cfg.py')
    cfg.dump(config)
    from mmseg.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmseg'):  # module scope: leave none behind
        model = MODELS.build(cfg.model)
    ckpt = str(folder / 'model.pkl')
    torch.save(dict(meta=dict(), state_dict=model.state_dict()), ckpt)
    return config, ckpt


def run_test_tool(*args):
    return load_tool('test.py').main([str(a) for a in args])


# ----------------------------------------------------------------------------------------------
# tools/test.py
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize('where, key', [
    ('annotations/validation', LABELS),  # the fault: --out at the val labels, --force
    ('annotations/validation/sub', LABELS),  # inside the label folder
    ('images/../annotations/validation', LABELS),  # another spelling of it
    ('link-to-labels', LABELS),  # a link to it
    ('..', 'data_root'),  # a folder that contains the dataset
])
def test_out_folder_may_not_touch_the_dataset(where, key, smoke, ade_root, tmp_path):
    config, ckpt = smoke
    out = osp.join(ade_root, where)
    if where == 'link-to-labels':  # the link lives outside the dataset
        out = str(tmp_path / where)
        os.symlink(osp.join(ade_root, 'annotations', 'validation'), out)
    before = snapshot(ade_root, config, ckpt)
    with pytest.raises(ValueError) as error:
        run_test_tool(config, ckpt, '--out', out, '--force', '--work-dir', tmp_path / 'work')
    message = str(error.value)
    assert message.startswith(f'--out {out} ') and key in message, message
    assert snapshot(ade_root, config, ckpt) == before
    assert not (tmp_path / 'work').exists()  # refused before anything was built


@pytest.mark.parametrize('spelling', ['same', 'dotted', 'symlink', 'hardlink'])
def test_out_pickle_may_not_be_the_checkpoint(spelling, smoke, tmp_path):
    config, ckpt = smoke
    folder = osp.dirname(ckpt)
    out = {'same': ckpt,
           'dotted': osp.join(folder, '.', 'sub', '..', 'model.pkl'),
           'symlink': str(tmp_path / 'link.pkl'),
           'hardlink': str(tmp_path / 'hard.pkl')}[spelling]
    if spelling == 'symlink':
        os.symlink(ckpt, out)
    elif spelling == 'hardlink':
        os.link(ckpt, out)
    before = snapshot(ckpt)
    with pytest.raises(ValueError) as error:
        run_test_tool(config, ckpt, '--out', out, '--force', '--work-dir', tmp_path / 'work')
    assert str(error.value).startswith(f'--out {out} is the source file {ckpt} (the checkpoint)')
    assert snapshot(ckpt) == before
    assert not (tmp_path / 'work').exists()


def test_show_dir_and_work_dir_may_not_write_into_the_dataset(smoke, ade_root, tmp_path):
    config, ckpt = smoke
    before = snapshot(ade_root)
    images = osp.join(ade_root, 'images', 'validation')
    with pytest.raises(ValueError, match='^--show-dir .* is the dataset folder .*img_path'):
        run_test_tool(config, ckpt, '--show-dir', images, '--work-dir', tmp_path / 'work')
    inside = osp.join(ade_root, 'annotations', 'training', 'logs')
    with pytest.raises(ValueError, match='^--work-dir .* is inside the dataset folder'):
        run_test_tool(config, ckpt, '--work-dir', inside)
    with pytest.raises(ValueError, match='^--show-dir .* and --out .* are the same path'):
        run_test_tool(config, ckpt, '--out', tmp_path / 'preds', '--show-dir',
                      tmp_path / 'preds', '--work-dir', tmp_path / 'work')
    assert snapshot(ade_root) == before
    assert not (tmp_path / 'work').exists() and not osp.exists(inside)


def test_out_pickle_is_never_half_written(smoke, tmp_path, monkeypatch):
    """A full disk while the predictions are pickled keeps the old file, leaves no temporary
    file; a later run replaces it with a complete pickle."""
    config, ckpt = smoke
    out = tmp_path / 'results.pkl'
    out.write_bytes(b'results of the previous run')
    real_open = builtins.open

    class FullDisk:
        """Writes the first bytes, then fails like a full disk."""

        def __init__(self, file):
            self.file = file

        def write(self, data):
            self.file.write(bytes(data)[:5])
            raise OSError(errno.ENOSPC, 'No space left on device')

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

        def __getattr__(self, name):
            return getattr(self.file, name)

    def full_disk_open(file, mode='r', *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        if 'results.pkl' in osp.basename(str(file)) and 'w' in mode:
            return FullDisk(handle)
        return handle

    monkeypatch.setattr(builtins, 'open', full_disk_open)
    with pytest.raises(OSError, match='No space left'):
        run_test_tool(config, ckpt, '--out', out, '--force', '--work-dir', tmp_path / 'work')
    monkeypatch.undo()
    assert out.read_bytes() == b'results of the previous run'
    assert sorted(os.listdir(tmp_path)) == ['results.pkl', 'work']

    run_test_tool(config, ckpt, '--out', out, '--force', '--work-dir', tmp_path / 'work')
    with open(out, 'rb') as file:
        results = pickle.load(file)
    assert len(results) == 1 and 'pred_sem_seg' in results[0]  # one tiny val image
    assert sorted(os.listdir(tmp_path)) == ['results.pkl', 'work']


def test_out_folder_is_filled_atomically(smoke, tmp_path, monkeypatch):
    """The label PNGs reach ``--out`` only by a rename: a run failing after they were drawn
    leaves the folder as it was and no staging folder behind."""
    config, ckpt = smoke
    out = tmp_path / 'preds'
    tool = load_tool('test.py')

    def broken(staging, folder):
        assert [n for n in os.listdir(staging) if n.endswith('.png')]  # drawn, not moved yet
        raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(tool, 'move_into_place', broken)
    with pytest.raises(OSError, match='No space left'):
        tool.main([config, ckpt, '--out', str(out), '--work-dir', str(tmp_path / 'work')])
    assert sorted(os.listdir(tmp_path)) == ['work']


# ----------------------------------------------------------------------------------------------
# tools/deployment/quantize.py
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize('case', ['fp32-out=OUT', 'json=OUT', 'json=fp32-out (link)',
                                  'OUT=config', 'OUT=checkpoint (dotted)', 'fp32-out in labels',
                                  'json contains data'])
def test_quantize_outputs_are_distinct_and_no_input(case, smoke, ade_root, tmp_path, capsys,
                                                    monkeypatch):
    quantize_tool = load_tool('deployment/quantize.py')

    def reached(*args, **kwargs):
        raise AssertionError('the work started before the clash was found')

    monkeypatch.setattr(quantize_tool, 'quantize_config', reached)
    config, ckpt = smoke
    out, fp32 = str(tmp_path / 'int8.onnx'), str(tmp_path / 'fp32.onnx')
    extra, expect = ['--checkpoint', ckpt], ''
    if case == 'fp32-out=OUT':
        extra += ['--fp32-out', out]
        expect = f'--fp32-out {out} and OUT {out} are the same path'
    elif case == 'json=OUT':
        extra += ['--json', osp.join(tmp_path, '.', 'int8.onnx')]
        expect = f'--json {osp.join(tmp_path, ".", "int8.onnx")} and OUT {out} are the same path'
    elif case == 'json=fp32-out (link)':
        os.symlink(fp32, tmp_path / 'link.json')
        extra += ['--fp32-out', fp32, '--json', str(tmp_path / 'link.json')]
        expect = f'--json {tmp_path / "link.json"} and --fp32-out {fp32} are the same path'
    elif case == 'OUT=config':
        out = config
        extra += ['--force']
        expect = f'OUT {config} is the source file {config} (the config)'
    elif case == 'OUT=checkpoint (dotted)':
        out = osp.join(osp.dirname(ckpt), '.', 'model.pkl')
        extra += ['--force']
        expect = f'OUT {out} is the source file {ckpt} (--checkpoint)'
    elif case == 'fp32-out in labels':
        extra += ['--fp32-out', osp.join(ade_root, 'annotations', 'training', 'fp32.onnx')]
        expect = 'train_dataloader.dataset.data_prefix.seg_map_path'
    else:
        extra += ['--json', osp.dirname(ade_root)]
        expect = '--json ' + osp.dirname(ade_root) + ' contains the dataset folder'
    before = snapshot(ade_root, config, ckpt)
    status = quantize_tool.main([config, out] + extra)
    stderr = capsys.readouterr().err
    line = next((ln for ln in stderr.splitlines() if ln.startswith('error:')), '')
    assert status == 1 and expect in line, stderr
    assert snapshot(ade_root, config, ckpt) == before
    assert sorted(os.listdir(tmp_path)) == (['link.json'] if 'link' in case else [])


# ----------------------------------------------------------------------------------------------
# mmhybrid.utils.fileio
# ----------------------------------------------------------------------------------------------
def test_config_inputs_cover_every_split_wrapper_and_evaluator():
    cfg = dict(
        train_dataloader=dict(dataset=dict(type='ConcatDataset', datasets=[
            dict(type='RepeatDataset', times=2, dataset=dict(
                data_root='data/a', data_prefix=dict(img_path='img', seg_map_path='ann'))),
            dict(data_root='data/b', data_prefix='train', ann_file='meta/train.txt'),
        ])),
        val_dataloader=dict(dataset=dict(data_root='s3://bucket', data_prefix=dict(img='x'))),
        test_dataloader=dict(dataset=dict(data_prefix=dict(img='/abs/val2017/'),
                                          ann_file='/abs/ann.json')),
        test_evaluator=[dict(type='CocoMetric', ann_file='data/coco/ann.json'), dict()])
    folders, files = config_inputs(cfg)
    wrapped = 'train_dataloader.dataset.datasets'
    assert folders == [
        (f'{wrapped}[0].dataset.data_root', 'data/a'),
        (f'{wrapped}[0].dataset.data_prefix.img_path', 'data/a/img'),
        (f'{wrapped}[0].dataset.data_prefix.seg_map_path', 'data/a/ann'),
        (f'{wrapped}[1].data_root', 'data/b'),
        (f'{wrapped}[1].data_prefix', 'data/b/train'),
        ('test_dataloader.dataset.data_prefix.img', '/abs/val2017/'),
    ]
    assert files == [(f'{wrapped}[1].ann_file', 'data/b/meta/train.txt'),
                     ('test_dataloader.dataset.ann_file', '/abs/ann.json'),
                     ('test_evaluator[0].ann_file', 'data/coco/ann.json')]
    check_outputs([('--out', 'data/results.pkl'), ('--work-dir', '.')], input_folders=folders,
                  may_contain_inputs=('--work-dir', ))
    with pytest.raises(ValueError, match=r"^--work-dir \. contains the dataset folder data/a"):
        check_outputs([('--work-dir', '.')], input_folders=folders)


# ----------------------------------------------------------------------------------------------
# tools/train.py, pytorch2onnx.py, benchmark.py, deploy_latency.py
# ----------------------------------------------------------------------------------------------
def test_train_work_dir_may_not_lie_inside_the_dataset(smoke, ade_root):
    config, _ = smoke
    before = snapshot(ade_root)
    work_dir = osp.join(ade_root, 'images', 'training', 'run')
    with pytest.raises(ValueError, match=r'--work-dir .* is inside the dataset folder'):
        load_tool('train.py').main([config, '--work-dir', work_dir])
    assert snapshot(ade_root) == before and not osp.exists(work_dir)


def test_export_output_may_not_be_the_config_or_checkpoint(smoke, tmp_path, capsys):
    config, ckpt = smoke
    before = snapshot(config, ckpt)
    tool = load_tool('deployment/pytorch2onnx.py')
    for out in (config, ckpt):
        assert tool.main([config, out, '--checkpoint', ckpt, '--shape', '32', '32',
                          '--force']) == 1
        assert 'is the source file' in capsys.readouterr().err
    assert snapshot(config, ckpt) == before


def test_benchmark_and_latency_table_outputs_may_not_clash(smoke, tmp_path):
    config, _ = smoke
    before = snapshot(config)
    with pytest.raises(SystemExit, match='is the source file'):
        load_tool('analysis_tools/benchmark.py').main([config, '--out', config, '--force'])
    table = str(tmp_path / 'latency.md')
    with pytest.raises(SystemExit, match='are the same path'):
        load_tool('analysis_tools/deploy_latency.py').main(
            ['--models', config, '--out', table, '--into', table])
    assert snapshot(config) == before and not osp.exists(table)
