# Copyright (c) mmhybrid contributors. All rights reserved.
"""Models by name for every task: mmhybrid.apis, MMPretrain's model hub and demo/image_demo.py.

Every model has random weights; the images are matplotlib's sample photograph (a real JPEG
shipped with an installed package) at reduced test scales, so the file runs in well under a
minute on a CPU.
"""
import math
import os.path as osp
import subprocess
import sys

import pytest
import torch
from helpers import load_script
from matplotlib.cbook import get_sample_data

import mmhybrid.apis as apis
from mmhybrid.utils.state_dict import CheckpointMismatchError

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
IMAGE = get_sample_data('grace_hopper.jpg', asfileobj=False)  # 512x600 RGB photograph
SEG_NAME = 'topformer_t_ade20k'
DET_NAME = 'retinanet_edgevit-xxs_fpn_1x_coco'
CLS_NAME = 'topformer-t_8xb128_in1k'
# Smaller test scales (test pipeline step 1 is the Resize of both configs).
SEG_SMALL = {'test_dataloader.dataset.pipeline.1.scale': (256, 128)}
DET_SMALL = {'test_dataloader.dataset.pipeline.1.scale': (320, 256)}

pytestmark = pytest.mark.filterwarnings('ignore:mmhybrid.*has no weights loaded')


def test_sample_image_is_shipped():
    assert osp.isfile(IMAGE) and IMAGE.endswith('.jpg')


def test_list_models_patterns_and_tasks():
    everything = apis.list_models()
    assert len(everything) == len(set(everything)) > 50
    assert apis.list_models('*topformer*', task='classification') == [
        'topformer-b_8xb128_in1k', 'topformer-s_8xb128_in1k', 'topformer-t_8xb128_in1k'
    ]
    topformer = apis.list_models('*topformer*')
    assert SEG_NAME in topformer and 'retinanet_topformer-b_fpn_1x_coco' in topformer
    assert apis.list_models('TOPFORMER_T_ADE') == [  # no wildcard: substring, any spelling
        'topformer-t_8xb2-160k_ade20k-448x448', 'topformer-t_8xb4-160k_ade20k-448x448',
        'topformer-t_8xb4-160k_ade20k-512x512', SEG_NAME]
    by_task = {task: set(apis.list_models(task=task))
               for task in ('classification', 'segmentation', 'detection')}
    assert set.union(*by_task.values()) == set(everything)
    assert not (by_task['classification'] & (by_task['segmentation'] | by_task['detection']))
    assert DET_NAME in by_task['detection'] and SEG_NAME in by_task['segmentation']
    instance = apis.list_models(task='Instance Segmentation')  # a metafile Task string
    assert instance and all(name.startswith('mask-rcnn') for name in instance)
    with pytest.raises(ValueError, match='Unknown task'):
        apis.list_models(task='depth')


def test_one_naming_rule_hyphen_underscore_and_schedule_part():
    """Before: ``list_models('topformer-t*', task='segmentation')`` missed
    ``topformer_t_ade20k``, the name the README uses on the next line."""
    assert SEG_NAME in apis.list_models('topformer-t*', task='segmentation')
    assert 'topformer-t_8xb128_in1k' in apis.list_models('topformer_t*')
    find = apis.model_index.find_model
    assert find('TopFormer-T_ADE20K')[1].name == SEG_NAME  # case and '-'/'_'
    assert find('topformer_t_8xb128_in1k')[1].name == 'topformer-t_8xb128_in1k'
    # without the schedule part: the one model it shortens
    assert find('retinanet_edgevit-xxs_fpn_coco')[1].name == DET_NAME
    assert find('topformer-t_cityscapes')[1].name == 'topformer-t_8xb1-160k_cityscapes-512x1024'
    assert find('topformer-t_pascal-context-59')[1].name == \
        'topformer-t_8xb2-80k_pascal-context-59-480x480'
    with pytest.raises(apis.model_index.UnknownModelError, match='names 4 models'):
        find('topformer-t_8xb2_ade20k')  # 448 or 512 crops, 8x2 or 8x4: say which


def test_unknown_name_suggests_close_matches():
    with pytest.raises(apis.UnknownModelError, match='Did you mean: topformer-t_8xb128_in1k'):
        apis.get_model('topformer-t_8xb128_in1')
    with pytest.raises(FileNotFoundError, match='does not exist'):
        apis.resolve_model('configs/topformer/nope.py')


def test_config_paths_resolve_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config, entry = apis.resolve_model('configs/topformer/topformer_t_ade20k.py')
    assert osp.isfile(config) and entry.name == SEG_NAME
    config, entry = apis.resolve_model(SEG_NAME)
    assert osp.isfile(config) and osp.isabs(config)


def test_mmpretrain_hub_knows_the_classification_models():
    import mmpretrain
    from mmpretrain.apis import ModelHub

    ours = apis.list_models(task='classification')
    assert mmpretrain.list_models('*topformer*') == [
        'topformer-b_8xb128_in1k', 'topformer-s_8xb128_in1k', 'topformer-t_8xb128_in1k'
    ]
    everything = mmpretrain.list_models()  # also MMPretrain's own index: no name clash
    assert set(ours) <= set(everything) and 'resnet50_8xb32_in1k' in everything
    assert not ModelHub.has(SEG_NAME) and not ModelHub.has(DET_NAME)
    assert set(ours) <= set(mmpretrain.list_models(task='Image Classification'))
    assert sorted(apis.register_into_mmpretrain()) == ours  # idempotent
    for name in ours:
        assert osp.isfile(ModelHub._models_dict[name].config)

    model = mmpretrain.get_model(CLS_NAME)
    assert type(model).__name__ == 'ImageClassifier'
    with torch.no_grad():
        assert model(torch.rand(1, 3, 224, 224), mode='tensor').shape == (1, 1000)
    result = mmpretrain.inference_model(CLS_NAME, IMAGE)
    assert 0 <= result['pred_label'] < 1000 and result['pred_class']


def test_register_into_a_fresh_hub_keeps_other_tasks_and_names_out():
    class FakeHub:  # the part of mmpretrain's ModelHub that the registration uses
        _models_dict = {'topformer-s_8xb128_in1k': object()}  # taken by "another" library

    with pytest.warns(UserWarning, match='already has models of these names'):
        registered = apis.register_into_mmpretrain(FakeHub)
    assert sorted(registered + ['topformer-s_8xb128_in1k']) == apis.list_models(
        task='classification')
    with pytest.warns(UserWarning, match='already has'):  # idempotent: same names again
        assert apis.register_into_mmpretrain(FakeHub) == registered
    for name in registered:
        metainfo = FakeHub._models_dict[name]
        assert osp.isabs(metainfo.config) and osp.isfile(metainfo.config)
        assert 'Image Classification' in [result.task for result in metainfo.results]


def test_import_mmhybrid_apis_does_not_import_mmpretrain_but_registers_later():
    """The hub registration is made by ``import mmhybrid.apis`` (plain ``import mmhybrid``
    makes none: tests/test_import_side_effects.py)."""
    script = ('import sys, mmhybrid.apis\n'
              'assert "mmpretrain" not in sys.modules\n'
              'import mmpretrain\n'
              'print(mmpretrain.list_models("topformer-t"))\n')
    out = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                         cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "['topformer-t_8xb128_in1k']" in out.stdout


@pytest.mark.parametrize('name_or_config, type_name, num_classes', [
    (SEG_NAME, 'EncoderDecoder', 150),
    ('configs/edgevit/retinanet_edgevit-xxs_fpn_1x_coco.py', 'RetinaNet', 80),
    ('configs/topformer/topformer-t_8xb128_in1k.py', 'ImageClassifier', 1000),
])
def test_get_model_by_name_or_config(name_or_config, type_name, num_classes):
    model = apis.get_model(name_or_config)
    assert type(model).__name__ == type_name and not model.training
    assert model.cfg.filename.endswith('.py')
    assert len(model.dataset_meta['classes']) == num_classes


def test_get_model_pretrained(tmp_path):
    model = apis.get_model(CLS_NAME)
    classes = ['cat', 'dog'] + [f'c{i}' for i in range(998)]
    path = str(tmp_path / 'cls.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {'dataset_meta': {'classes': classes}}},
               path)
    loaded = apis.get_model(CLS_NAME, pretrained=path)
    assert loaded.dataset_meta['classes'][:2] == ['cat', 'dog']
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key

    state = model.state_dict()
    state.pop(sorted(state)[-1])
    torch.save({'state_dict': state}, path)
    with pytest.raises(CheckpointMismatchError):
        apis.get_model(CLS_NAME, pretrained=path)

    with pytest.raises(FileNotFoundError, match=f'fetch_official.py {CLS_NAME}'):
        apis.get_model(CLS_NAME, pretrained=True)
    with pytest.raises(FileNotFoundError, match='released no weights.*tools/train.py'):
        apis.get_model('edgevit-xxs_8xb256_in1k', pretrained=True)
    with pytest.raises(FileNotFoundError, match='--list.*train.py configs/edgevit/retinanet'):
        apis.get_model(DET_NAME, pretrained=True)


@pytest.mark.parametrize('name, cfg_options, kwargs, check', [
    (SEG_NAME, SEG_SMALL, {}, lambda p: p.shape == (600, 512) and p.max() < 150),
    # initialised as training starts: no confident box from random weights
    (DET_NAME, DET_SMALL, {'pred_score_thr': 0.5}, lambda p: max(p['scores'], default=0) < 0.5),
    (CLS_NAME, None, {}, lambda p: 0 <= p['pred_label'] < 1000),
])
def test_inferencer_draws_every_task(tmp_path, name, cfg_options, kwargs, check):
    inferencer = apis.Inferencer(name, cfg_options=cfg_options)
    result = inferencer(IMAGE, out_dir=str(tmp_path), **kwargs)
    assert len(result['predictions']) == 1 and check(result['predictions'][0])
    assert len(result['out_files']) == 1
    drawing = result['out_files'][0]
    assert drawing.startswith(str(tmp_path / 'vis')) and osp.getsize(drawing) > 10_000


def test_a_segmentation_call_prints_no_warning_on_stdout(capfd):
    """Before: every segmentation call printed MMEngine's 'Failed to search registry with
    scope "mmseg" in the "function" registry tree' WARNING on stdout."""
    apis.Inferencer(SEG_NAME, cfg_options=SEG_SMALL)(IMAGE)
    assert [line for line in capfd.readouterr().out.splitlines() if 'WARNING' in line] == []


def test_a_model_without_weights_is_initialised_as_training_would():
    """Before: ``init_weights()`` was skipped, so the README's detection example drew about
    100 boxes at score 1.00 over the whole photograph."""
    with pytest.warns(UserWarning, match='has no weights loaded.*initialised as training'):
        model = apis.get_model(DET_NAME)
    bias = model.bbox_head.retina_cls.bias  # RetinaNet's prior of 0.01 per class
    assert torch.allclose(bias, torch.full_like(bias, -math.log(99)))


def test_inference_model_with_a_built_model(tmp_path):
    model = apis.get_model('configs/topformer/topformer-t_8xb128_in1k.py')
    result = apis.inference_model(model, [IMAGE, IMAGE], out_dir=str(tmp_path))
    assert len(result['predictions']) == 2
    assert result['out_files'] == [str(tmp_path / 'vis' / 'grace_hopper.png')]


def test_image_demo_writes_once_unless_forced(tmp_path, capsys):
    demo = load_script('demo/image_demo.py')
    out_file = str(tmp_path / 'drawings' / 'cls.jpg')
    assert demo.main([IMAGE, CLS_NAME, '--out-file', out_file]) == 0
    assert osp.getsize(out_file) > 10_000
    assert 'drawing written to' in capsys.readouterr().out
    with pytest.raises(SystemExit, match='--force'):
        demo.main([IMAGE, CLS_NAME, '--out-file', out_file])
    assert demo.main([IMAGE, CLS_NAME, '--out-file', out_file, '--force']) == 0
    assert sorted(p.name for p in (tmp_path / 'drawings').iterdir()) == ['cls.jpg']
    with pytest.raises(SystemExit, match='Did you mean'):
        demo.main([IMAGE, 'topformer-t_8xb128', '--out-file', str(tmp_path / 'x.png')])


def _readme_inference_snippets():
    with open(osp.join(REPO, 'README.md'), encoding='utf-8') as file:
        text = file.read()
    section = text.split('\n## Inference\n', 1)[1].split('\n## ', 1)[0]
    return [block.split('```', 1)[0] for block in section.split('```python\n')[1:]]


@pytest.mark.slow  # builds and runs three task models, as the README does
def test_readme_inference_section_runs_as_written(tmp_path, monkeypatch):
    snippets = _readme_inference_snippets()
    assert len(snippets) == 2
    monkeypatch.chdir(tmp_path)
    for snippet in snippets:
        exec(compile(snippet, 'README.md', 'exec'), {'__name__': 'readme'})
    for task, drawing in (('seg', 'grace_hopper.jpg'), ('det', 'grace_hopper.jpg'),
                          ('cls', 'grace_hopper.png')):
        assert osp.getsize(tmp_path / 'outputs' / task / 'vis' / drawing) > 10_000
