# Copyright (c) mmhybrid contributors. All rights reserved.
"""Data errors name the file or folder and what is wrong (issue 10, case 8).

Each bad case (0-byte image, truncated label PNG, label value outside the classes, empty image
folder) is caught both before a run (``check_dataset`` / ``check_dataset_folders`` / the CLI)
and during one (``ReportDataErrors`` wrapping the pipeline, exercised through ``dataset[i]``).
"""
import copy
import os
import os.path as osp
import pickle
import random
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from mmhybrid.datasets import (
    DatasetError,
    ReportDataErrors,
    check_dataset,
    check_dataset_folders,
    inspect_image_file,
    segmentation_label_spec,
    wrap_pipelines_with_error_reports,
)
from mmhybrid.testing import make_ade20k, make_imagenet

SIZE = (64, 48)  # (width, height)
NUM_TRAIN, NUM_VAL = 3, 2
SEG_PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]


def _ade_loader(data_root, folder, pipeline):
    return dict(
        batch_size=1, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
        dataset=dict(type='ADE20KDataset', data_root=data_root,
                     data_prefix=dict(img_path=f'images/{folder}',
                                      seg_map_path=f'annotations/{folder}'),
                     pipeline=[dict(t) for t in pipeline]))


def seg_config(data_root, pipeline=SEG_PIPELINE):
    """A minimal mmseg config: ADE20K (150 classes, reduce_zero_label) and a decode head."""
    return Config(dict(
        default_scope='mmseg',
        model=dict(type='EncoderDecoder', decode_head=dict(num_classes=150, ignore_index=255)),
        train_dataloader=_ade_loader(data_root, 'training', pipeline),
        val_dataloader=_ade_loader(data_root, 'validation', pipeline),
        test_dataloader=_ade_loader(data_root, 'validation', pipeline)))


@pytest.fixture
def ade_root(tmp_path):
    return make_ade20k(str(tmp_path / 'tiny'), num_train=NUM_TRAIN, num_val=NUM_VAL, size=SIZE)


def train_files(data_root, index=1):
    name = f'ADE_train_{index:08d}'
    return (osp.join(data_root, 'images', 'training', name + '.jpg'),
            osp.join(data_root, 'annotations', 'training', name + '.png'))


def build_train_dataset(cfg, wrap):
    """The train dataset of ``cfg``, its pipeline wrapped in ReportDataErrors or not."""
    from mmengine.registry import DATASETS, init_default_scope
    cfg = copy.deepcopy(cfg)
    if wrap:
        assert wrap_pipelines_with_error_reports(cfg) > 0
    init_default_scope(cfg.default_scope)
    return DATASETS.build(cfg.train_dataloader.dataset)


def sample_index(dataset, path):
    return next(i for i in range(len(dataset)) if path in dataset.get_data_info(i).values())


def only_problem(report, split='train'):
    problems = report.problems_of(split)
    assert len(problems) == 1, report.format()
    return problems[0]


# ----------------------------------------------------------------------------------------------
# Clean data
# ----------------------------------------------------------------------------------------------
def test_clean_set_gives_clean_report_with_counts(ade_root):
    report = check_dataset(seg_config(ade_root), progress=False)
    assert report.ok, report.format()
    assert report.counts == dict(train=NUM_TRAIN, val=NUM_VAL, test=NUM_VAL)
    assert report.checked == report.counts
    assert 'same dataset as val' in report.notes['test']
    assert 'train: 3 samples, 0 problems' in report.format()
    report.raise_for_problems()  # no error
    check_dataset_folders(seg_config(ade_root))  # no error


def test_max_samples_limits_the_scan(ade_root):
    report = check_dataset(seg_config(ade_root), splits=('train', ), max_samples=2,
                           progress=False)
    assert report.counts == dict(train=NUM_TRAIN) and report.checked == dict(train=2)


def test_wrapped_pipeline_gives_identical_samples(ade_root):
    """Same transforms, same random draws: every tensor and meta field is bit-identical."""
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', reduce_zero_label=True),
        dict(type='RandomResize', scale=(64, 48), ratio_range=(0.5, 2.0), keep_ratio=True),
        dict(type='RandomCrop', crop_size=(32, 32), cat_max_ratio=0.75),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PhotoMetricDistortion'),
        dict(type='PackSegInputs'),
    ]
    cfg = seg_config(ade_root, pipeline)
    plain, wrapped = build_train_dataset(cfg, wrap=False), build_train_dataset(cfg, wrap=True)
    assert isinstance(wrapped.pipeline.transforms[0], ReportDataErrors)
    for index in range(len(plain)):
        outputs = []
        for dataset in (plain, wrapped):
            random.seed(index)
            np.random.seed(index)
            outputs.append(dataset[index])
        expected, actual = outputs
        assert torch.equal(expected['inputs'], actual['inputs'])
        assert torch.equal(expected['data_samples'].gt_sem_seg.data,
                           actual['data_samples'].gt_sem_seg.data)
        assert expected['data_samples'].metainfo.keys() == actual['data_samples'].metainfo.keys()
        for key, value in expected['data_samples'].metainfo.items():
            assert np.array_equal(value, actual['data_samples'].metainfo[key]), key


def test_wrapped_dataset_pickles_and_runs_in_dataloader_workers(ade_root):
    from torch.utils.data import DataLoader
    img_path, _ = train_files(ade_root, 2)
    dataset = build_train_dataset(seg_config(ade_root), wrap=True)
    pickle.loads(pickle.dumps(dataset))  # spawn-started workers receive a pickled copy
    loader = DataLoader(dataset, batch_size=1, num_workers=1, collate_fn=lambda batch: batch)
    assert len(list(loader)) == NUM_TRAIN
    open(img_path, 'wb').close()  # the worker's error still names the file
    with pytest.raises(DatasetError, match=r'ADE_train_00000002\.jpg.*0 bytes'):
        list(loader)


# ----------------------------------------------------------------------------------------------
# Bad data: the report, the error raised by the wrapper, the CLI
# ----------------------------------------------------------------------------------------------
def test_zero_byte_image_is_named(ade_root):
    img_path, _ = train_files(ade_root)
    open(img_path, 'wb').close()
    cfg = seg_config(ade_root)

    problem = only_problem(check_dataset(cfg, progress=False))
    assert problem.path == img_path and 'empty (0 bytes)' in problem.problem

    dataset = build_train_dataset(cfg, wrap=True)
    with pytest.raises(DatasetError) as error:
        dataset[sample_index(dataset, img_path)]
    message = str(error.value)
    assert img_path in message and '0 bytes' in message and 'LoadImageFromFile' in message
    assert error.value.__cause__ is not None  # the original error is chained


def test_truncated_label_png_is_named(ade_root):
    _, seg_path = train_files(ade_root)
    with open(seg_path, 'rb') as f:
        content = f.read()
    with open(seg_path, 'wb') as f:
        f.write(content[:len(content) // 2])
    cfg = seg_config(ade_root)

    problem = only_problem(check_dataset(cfg, progress=False))
    assert problem.path == seg_path and 'truncated or corrupt' in problem.problem

    dataset = build_train_dataset(cfg, wrap=True)
    with pytest.raises(DatasetError) as error:
        dataset[sample_index(dataset, seg_path)]
    message = str(error.value)
    assert seg_path in message and 'truncated or corrupt' in message
    assert 'LoadAnnotations' in message


def test_label_value_outside_classes_is_named(ade_root):
    _, seg_path = train_files(ade_root)
    label = np.array(Image.open(seg_path))
    label[:4, :4] = 199  # reduce_zero_label makes it 198, still >= 150 classes
    Image.fromarray(label).save(seg_path)
    cfg = seg_config(ade_root)

    problem = only_problem(check_dataset(cfg, progress=False))
    assert problem.path == seg_path
    assert 'label values [198] (stored as [199]' in problem.problem
    assert 'num_classes=150' in problem.problem

    dataset = build_train_dataset(cfg, wrap=True)
    with pytest.raises(DatasetError) as error:
        dataset[sample_index(dataset, seg_path)]
    message = str(error.value)
    assert seg_path in message and '[198]' in message and 'num_classes=150' in message
    assert '16 pixels' in message


def test_label_of_another_size_is_named(ade_root):
    img_path, seg_path = train_files(ade_root)
    Image.open(seg_path).resize((32, 32), Image.NEAREST).save(seg_path)
    cfg = seg_config(ade_root)
    problem = only_problem(check_dataset(cfg, progress=False))
    assert problem.path == seg_path and 'is 32x32 but its image' in problem.problem
    dataset = build_train_dataset(cfg, wrap=True)
    with pytest.raises(DatasetError, match='is 32x32 but its image'):
        dataset[sample_index(dataset, seg_path)]


def test_empty_image_folder_is_named_with_the_key_to_fix(ade_root):
    folder = osp.join(ade_root, 'images', 'training')
    for name in os.listdir(folder):
        os.remove(osp.join(folder, name))
    cfg = seg_config(ade_root)

    report = check_dataset(cfg, progress=False)
    problem = only_problem(report)
    assert problem.path == folder
    assert "no images ('*.jpg'" in problem.problem and 'it is empty' in problem.problem
    assert 'train_dataloader.dataset.data_prefix.img_path' in problem.problem
    assert report.ok is False and 'train' in report.notes and report.counts['val'] == NUM_VAL

    # what tools/train.py runs before building anything
    with pytest.raises(DatasetError) as error:
        check_dataset_folders(cfg)
    assert folder in str(error.value) and '1 problem with the dataset folders' in str(error.value)


def test_annotation_file_listing_nothing_names_the_folder(ade_root):
    empty_list = osp.join(ade_root, 'empty.txt')
    open(empty_list, 'w').close()
    cfg = seg_config(ade_root)
    cfg.train_dataloader.dataset.ann_file = 'empty.txt'
    problem = only_problem(check_dataset(cfg, splits=('train', ), progress=False))
    assert problem.path == osp.join(ade_root, 'images', 'training')
    assert 'found no samples' in problem.problem and empty_list in problem.problem


@pytest.mark.parametrize('content, expected', [
    (None, 'file does not exist'),
    (b'', 'file is empty (0 bytes)'),
    (b'<html>not found</html>', "not an image file (starts with b'<html>"),
    ('half', 'truncated or corrupt image'),
])
def test_inspect_image_file_names_the_problem(tmp_path, content, expected):
    path = str(tmp_path / 'x.jpg')
    Image.new('RGB', (32, 32), (200, 10, 10)).save(path)
    if content is None:
        os.remove(path)
    else:
        with open(path, 'rb') as f:
            whole = f.read()
        with open(path, 'wb') as f:
            f.write(whole[:len(whole) // 2] if content == 'half' else content)
    image, problem = inspect_image_file(path)
    assert image is None and problem.startswith(expected)


def test_missing_data_root_names_the_data_root_key(tmp_path):
    missing = str(tmp_path / 'nowhere')
    with pytest.raises(DatasetError) as error:
        check_dataset_folders(seg_config(missing))
    message = str(error.value)
    assert missing in message and 'train_dataloader.dataset.data_root' in message
    assert 'val_dataloader.dataset.data_root' in message


def test_wrong_image_suffix_shows_an_example(ade_root):
    cfg = seg_config(ade_root)
    cfg.train_dataloader.dataset.img_suffix = '.png'
    problems = check_dataset(cfg, splits=('train', ), progress=False).problems
    assert len(problems) == 1
    assert "it holds 3 other files, e.g. 'ADE_train_" in problems[0].problem
    assert 'train_dataloader.dataset.img_suffix' in problems[0].problem


def test_error_lists_at_most_ten_problems_and_the_total(ade_root):
    data_root = make_ade20k(osp.join(osp.dirname(ade_root), 'more'), num_train=12, num_val=1,
                            size=(16, 16))
    for index in range(1, 13):
        open(train_files(data_root, index)[0], 'wb').close()
    report = check_dataset(seg_config(data_root), splits=('train', ), progress=False)
    assert len(report.problems) == 12
    with pytest.raises(DatasetError) as error:
        report.raise_for_problems()
    message = str(error.value)
    assert message.startswith('12 problems with the dataset:')
    assert message.count('0 bytes') == 10 and '... and 2 more' in message
    assert len(pickle.loads(pickle.dumps(error.value)).problems) == 12


def test_cli_exit_codes(ade_root, tmp_path, load_tool, capsys):
    tool = load_tool('misc/check_dataset.py')
    config_path = str(tmp_path / 'cfg.py')
    seg_config(ade_root).dump(config_path)
    assert tool.main([config_path, '--no-progress']) == 0
    assert 'no problems found' in capsys.readouterr().out

    img_path, _ = train_files(ade_root)
    open(img_path, 'wb').close()
    assert tool.main([config_path, '--no-progress', '--splits', 'train', 'val']) == 1
    out = capsys.readouterr().out
    assert img_path in out and 'empty (0 bytes)' in out and 'val: 2 samples, 0 problems' in out


# ----------------------------------------------------------------------------------------------
# Classification
# ----------------------------------------------------------------------------------------------
def test_classification_zero_byte_image_is_named(tmp_path):
    data_root = make_imagenet(str(tmp_path / 'tiny'), num_train=3, num_val=1, size=(32, 32))
    pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
    cfg = Config(dict(
        default_scope='mmpretrain',
        train_dataloader=dict(dataset=dict(
            type='ImageNet', data_root=data_root, data_prefix='train',
            ann_file='meta/train.txt', pipeline=pipeline))))
    assert check_dataset(cfg, progress=False).ok

    img_path = osp.join(data_root, 'train', 'n01440764', 'n01440764_1.JPEG')
    open(img_path, 'wb').close()
    report = check_dataset(cfg, progress=False)
    assert report.counts == dict(train=3) and report.notes['val'].startswith('no val_')
    problem = only_problem(report)
    assert problem.path == img_path and 'empty (0 bytes)' in problem.problem

    dataset = build_train_dataset(cfg, wrap=True)
    assert dataset.pipeline.transforms[0].num_classes is None  # no label-value check
    with pytest.raises(DatasetError, match=r'n01440764_1\.JPEG \(file is empty \(0 bytes\)\)'):
        dataset[0]


# ----------------------------------------------------------------------------------------------
# Config rewriting and registry
# ----------------------------------------------------------------------------------------------
def test_wrap_handles_dataset_wrappers_and_is_idempotent():
    leaf = dict(type='ADE20KDataset', pipeline=[dict(type='LoadImageFromFile')])
    cfg = Config(dict(
        model=dict(decode_head=[dict(num_classes=19, loss_decode=[dict(ignore_index=250)])]),
        train_dataloader=dict(dataset=dict(type='RepeatDataset', times=2, dataset=dict(
            type='ConcatDataset', datasets=[dict(leaf), dict(leaf)]))),
        val_dataloader=dict(dataset=dict(leaf)),
        test_dataloader=None))
    assert segmentation_label_spec(cfg) == (19, 250)
    assert wrap_pipelines_with_error_reports(cfg) == 3
    assert wrap_pipelines_with_error_reports(cfg) == 0
    wrapped = cfg.train_dataloader.dataset.dataset.datasets[1].pipeline
    assert len(wrapped) == 1 and wrapped[0]['type'] == 'mmhybrid.ReportDataErrors'
    assert wrapped[0]['transforms'] == [dict(type='LoadImageFromFile')]
    assert (wrapped[0]['num_classes'], wrapped[0]['ignore_index']) == (19, 250)
    assert cfg.custom_imports == dict(imports=['mmhybrid.datasets'], allow_failed_imports=False)


def test_dumped_wrapped_config_builds_in_a_fresh_process(ade_root, tmp_path):
    """The config the Runner dumps reloads and builds with nothing imported by hand."""
    cfg = seg_config(ade_root)
    cfg.custom_imports = dict(imports='mmseg.datasets')
    wrap_pipelines_with_error_reports(cfg)
    assert cfg.custom_imports.imports == ['mmseg.datasets', 'mmhybrid.datasets']
    config_path = str(tmp_path / 'wrapped.py')
    cfg.dump(config_path)
    script = (
        'import sys; from mmengine.config import Config; '
        'from mmengine.registry import DATASETS, init_default_scope; '
        f'cfg = Config.fromfile({config_path!r}); init_default_scope("mmseg"); '
        'ds = DATASETS.build(cfg.train_dataloader.dataset); ds[0]; '
        'print(type(ds.pipeline.transforms[0]).__name__)')
    out = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                         env=dict(os.environ, OMP_NUM_THREADS='1'), timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == 'ReportDataErrors'


@pytest.mark.parametrize('scope', ['mmseg', 'mmdet', 'mmpretrain'])
def test_prefixed_type_builds_from_each_library_registry(scope):
    """``type='mmhybrid.ReportDataErrors'`` resolves from mmseg/mmdet/mmpretrain's TRANSFORMS,
    and the wrapped transforms are built in the library's scope."""
    import importlib

    from mmengine.registry import init_default_scope
    registry = importlib.import_module(f'{scope}.registry').TRANSFORMS
    init_default_scope(scope)
    transform = registry.build(dict(
        type='mmhybrid.ReportDataErrors', transforms=[dict(type='LoadImageFromFile')]))
    assert isinstance(transform, ReportDataErrors)
    assert type(transform.transforms[0]).__name__ == 'LoadImageFromFile'


@pytest.mark.parametrize('array,mode,problem', [
    (np.full((4, 5), 150, np.uint16), None, None),  # 16-bit file, values fit: accepted
    (np.full((4, 5), 256, np.uint16), None, 'values up to 256'),
    (np.zeros((4, 5), np.uint8), 'P', None),
    (np.zeros((4, 5, 3), np.uint8), None, '3 channels (mode RGB)'),
    (np.zeros((4, 5, 2), np.uint8), 'LA', '2 channels (mode LA)'),
])
def test_label_file_problem_reads_the_header_before_the_uint8_cast(tmp_path, array, mode,
                                                                  problem):
    from mmhybrid.datasets.transforms import label_file_problem
    path = str(tmp_path / 'label.png')
    image = Image.fromarray(array)
    (image.convert(mode) if mode else image).save(path)
    found = label_file_problem(path)
    assert found is None if problem is None else problem in found
