# Copyright (c) mmhybrid contributors. All rights reserved.
"""Train, then look at the result: checkpoints written by ``tools/train.py`` draw predictions
through :class:`mmhybrid.apis.Inferencer`, :func:`mmhybrid.apis.inference_model` and
``demo/image_demo.py --weights``, for every task, with the checkpoint's classes and palette.

Each task's real config (TopFormer-T on ADE20K, RetinaNet EdgeViT-XXS on COCO, TopFormer-T on
ImageNet) is shrunk by ``tests/smoke.py`` to the tiny generated datasets and trained for two
iterations by ``tools/train.py``, once per task (module-scoped fixture). The checkpoint then
holds ``meta['dataset_meta']`` as MMEngine saves it: the training dataset's ``metainfo``
(for mmseg with ``label_map`` and ``reduce_zero_label``, which MMSegmentation's visualizer
rejected: ``unexpected keyword argument 'label_map'``).
"""
import contextlib
import os
import os.path as osp

import mmcv
import pytest
from helpers import load_script, load_tool
from mmengine.registry import DefaultScope
from smoke import make_smoke_config

import mmhybrid.apis as apis
from mmhybrid.testing import make_ade20k, make_coco, make_imagenet
from mmhybrid.utils.state_dict import load_checkpoint_file

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# task -> (config, tiny dataset maker, data_roots key, a validation image relative to its root)
TASKS = {
    'segmentation': ('configs/topformer/topformer_t_ade20k.py', make_ade20k, 'ade20k',
                     'images/validation/ADE_val_00000001.jpg'),
    'detection': ('configs/edgevit/retinanet_edgevit-xxs_fpn_1x_coco.py', make_coco, 'coco',
                  'val2017'),
    'classification': ('configs/topformer/topformer-t_8xb128_in1k.py', make_imagenet,
                       'imagenet', 'val'),
}
ITERS = 2

pytestmark = pytest.mark.slow


def _first_image(folder: str) -> str:
    if osp.isfile(folder):
        return folder
    for root, _, names in sorted(os.walk(folder)):
        for name in sorted(names):
            if name.endswith(('.jpg', '.JPEG', '.png')):
                return osp.join(root, name)
    raise FileNotFoundError(f'no image under {folder}')


@contextlib.contextmanager
def default_scopes_kept():
    """Remove the default scopes a training creates (as ``tests/conftest.py`` does around each
    test; a module-scoped fixture runs outside that)."""
    before = list(DefaultScope._instance_dict)
    try:
        yield
    finally:
        for name in list(DefaultScope._instance_dict):
            if name not in before:
                del DefaultScope._instance_dict[name]


@pytest.fixture(scope='module', params=list(TASKS))
def trained(request, tmp_path_factory):
    """``(task, config, checkpoint, image)``: a two-iteration ``tools/train.py`` run."""
    task = request.param
    config_path, maker, key, image = TASKS[task]
    folder = tmp_path_factory.mktemp(task)
    root = maker(str(folder / 'data'), num_train=2, num_val=1)
    work_dir = folder / 'work'
    cfg = make_smoke_config(osp.join(REPO, config_path), {key: root}, str(work_dir),
                            with_val=False)
    # Train for real: no stop-after-one-step hook, the stock CheckpointHook (tools/train.py
    # swaps in its atomic one) at the last iteration.
    cfg.custom_hooks = [h for h in cfg.custom_hooks if h['type'] != 'SmokeStopHook']
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=ITERS, val_interval=10**6)
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False, end=ITERS)]
    cfg.default_hooks['checkpoint'] = dict(type='CheckpointHook', by_epoch=False,
                                           interval=ITERS)
    config = str(folder / 'config.py')
    cfg.dump(config)
    with default_scopes_kept():
        load_tool('train.py').main([config, '--work-dir', str(work_dir)])
    checkpoint = str(work_dir / f'iter_{ITERS}.pth')
    return task, config, checkpoint, _first_image(osp.join(root, image))


def saved_dataset_meta(checkpoint: str) -> dict:
    return load_checkpoint_file(checkpoint)['meta']['dataset_meta']


def check_drawing(path: str, image: str) -> None:
    """The drawing exists and has the size of the image it was drawn on."""
    drawing, original = mmcv.imread(path), mmcv.imread(image)
    assert drawing is not None, f'{path} is not an image'
    assert drawing.shape == original.shape, (drawing.shape, original.shape)


def test_inferencer_draws_with_the_trained_checkpoint(trained, tmp_path):
    task, config, checkpoint, image = trained
    saved = saved_dataset_meta(checkpoint)
    assert saved['classes']
    if task == 'segmentation':  # what MMSegmentation's visualizer rejected
        assert {'label_map', 'reduce_zero_label', 'palette'} <= set(saved)
    inferencer = apis.Inferencer(config, weights=checkpoint)
    assert inferencer.task == task
    result = inferencer(image, out_dir=str(tmp_path))
    assert len(result['predictions']) == 1
    assert len(result['out_files']) == 1
    check_drawing(result['out_files'][0], image)
    meta = inferencer.model.dataset_meta
    assert list(meta['classes']) == list(saved['classes'])  # the checkpoint's class names
    if 'palette' in saved:
        assert [list(c) for c in meta['palette']] == [list(c) for c in saved['palette']]
    visualizer = getattr(inferencer.inferencer, 'visualizer', None)
    if task == 'segmentation':  # drawn with the checkpoint's classes and palette
        assert list(visualizer.dataset_meta['classes']) == list(saved['classes'])
        assert [list(c) for c in visualizer.dataset_meta['palette']] == \
            [list(c) for c in saved['palette']]


def test_inference_model_draws_with_the_trained_checkpoint(trained, tmp_path):
    _, config, checkpoint, image = trained
    result = apis.inference_model(config, [image], out_dir=str(tmp_path), weights=checkpoint)
    assert len(result['predictions']) == 1 and len(result['out_files']) == 1
    check_drawing(result['out_files'][0], image)


def test_image_demo_draws_with_the_trained_checkpoint(trained, tmp_path, capsys):
    task, config, checkpoint, image = trained
    out_file = str(tmp_path / 'drawing.png')
    demo = load_script('demo/image_demo.py')
    assert demo.main([image, config, '--weights', checkpoint, '--out-file', out_file]) == 0
    check_drawing(out_file, image)
    output = capsys.readouterr().out
    assert f'({task})' in output and f'drawing written to {out_file}' in output
