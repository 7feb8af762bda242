# Copyright (c) mmhybrid contributors. All rights reserved.
"""tools/analysis_tools/update_metafile_metadata.py on a tiny fake repository."""
import textwrap

import pytest
import yaml

from mmhybrid.analysis import count_complexity, count_parameters
from mmhybrid.tasks import build_task_model

METAFILE = 'configs/fam/metafile.yml'
CONFIG = 'configs/fam/tiny-resnet_8xb32_in1k.py'

# A 32x32-input ResNet-18 with 8-channel stem: counted in well under a second.
TINY_CONFIG = """
default_scope = 'mmpretrain'
model = dict(
    type='ImageClassifier',
    backbone=dict(type='ResNet', depth=18, stem_channels=8, base_channels=8),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=64))
test_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=36, edge='short'),
    dict(type='CenterCrop', crop_size=32),
    dict(type='PackInputs'),
]))
"""

METAFILE_TEXT = """\
# A comment that a YAML round trip would lose.
Collections:
  - Name: Fam
    Paper:
      Title: 'Fam: a family'
      URL: https://example.org/fam#section

Models:
  - Name: filled
    In Collection: Fam
    Config: {config}
    Metadata:
      Training Data: ImageNet-1k
      Epochs: 300
    Results:
      - Task: Image Classification
        Dataset: ImageNet-1k
        Metrics:
          Top 1 Accuracy: 70.0

  - Name: no-metadata
    In Collection: Fam
    Config: {config}
    Notes: a model without a Metadata block
"""


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


@pytest.fixture(scope='module')
def expected(tmp_path_factory):
    root = tmp_path_factory.mktemp('counts')
    _write(root / CONFIG, TINY_CONFIG)
    task = build_task_model(str(root / CONFIG))
    assert task.input_shape == (32, 32)
    flops = count_complexity(task.module, task.make_inputs()).flops
    return {'Parameters': count_parameters(task.model), 'FLOPs': flops}


@pytest.fixture
def repo(tmp_path):
    _write(tmp_path / 'model-index.yml', f'Import:\n  - {METAFILE}\n')
    _write(tmp_path / CONFIG, TINY_CONFIG)
    _write(tmp_path / METAFILE, METAFILE_TEXT.format(config=CONFIG))
    return tmp_path


def _models(root):
    data = yaml.safe_load((root / METAFILE).read_text())
    return {item['Name']: item for item in data['Models']}


def test_missing_values_are_written_and_the_rest_of_the_file_is_kept(load_tool, repo, expected):
    tool = load_tool('analysis_tools/update_metafile_metadata.py')
    before = (repo / METAFILE).read_text()
    assert tool.main(['--root', str(repo), '--check']) == 1  # both models lack both values
    assert tool.main(['--root', str(repo), '--dry-run']) == 0
    assert (repo / METAFILE).read_text() == before

    assert tool.main(['--root', str(repo)]) == 0
    text = (repo / METAFILE).read_text()
    models = _models(repo)
    for name in ('filled', 'no-metadata'):
        assert {k: models[name]['Metadata'][k] for k in expected} == expected
    assert text.startswith('# A comment that a YAML round trip would lose.\n')
    assert models['filled']['Metadata']['Epochs'] == 300
    assert list(models['filled']['Metadata']) == [
        'Parameters', 'FLOPs', 'Training Data', 'Epochs']
    assert list(models['no-metadata']) == ['Name', 'In Collection', 'Config', 'Metadata',
                                           'Notes']
    # only the four inserted lines and the new Metadata line differ
    assert len(text.splitlines()) == len(before.splitlines()) + 5
    assert tool.main(['--root', str(repo), '--check']) == 0


def test_check_detects_drift_and_mismatches_are_kept_unless_overwrite(load_tool, repo,
                                                                      expected):
    tool = load_tool('analysis_tools/update_metafile_metadata.py')
    assert tool.main(['--root', str(repo)]) == 0
    path = repo / METAFILE
    params, flops = expected['Parameters'], expected['FLOPs']

    # 0.1% off: --check fails, an update silently refreshes it to the exact count
    path.write_text(path.read_text().replace(f'FLOPs: {flops}', f'FLOPs: {flops + flops // 1000}',
                                             1))
    assert tool.main(['--root', str(repo), '--check']) == 1
    assert tool.main(['--root', str(repo)]) == 0
    assert _models(repo)['filled']['Metadata']['FLOPs'] == flops

    # 10% off: reported and kept (exit 1) unless --overwrite
    wrong = params + params // 10
    path.write_text(path.read_text().replace(f'Parameters: {params}', f'Parameters: {wrong}', 1))
    assert tool.main(['--root', str(repo), '--check']) == 1
    assert tool.main(['--root', str(repo)]) == 1
    assert _models(repo)['filled']['Metadata']['Parameters'] == wrong
    assert tool.main(['--root', str(repo), '--overwrite']) == 0
    assert _models(repo)['filled']['Metadata']['Parameters'] == params
    assert tool.main(['--root', str(repo), '--check']) == 0


def test_models_filter(load_tool, repo, expected):
    tool = load_tool('analysis_tools/update_metafile_metadata.py')
    assert tool.main(['--root', str(repo), '--models', 'no-*']) == 0
    models = _models(repo)
    assert models['no-metadata']['Metadata'] == expected
    assert 'Parameters' not in models['filled']['Metadata']
    with pytest.raises(ValueError, match='match no model'):
        tool.main(['--root', str(repo), '--models', 'absent'])


def test_flow_style_metadata_is_refused_with_a_clear_error(load_tool):
    tool = load_tool('analysis_tools/update_metafile_metadata.py')
    text = 'Models:\n  - Name: m\n    Metadata: {Epochs: 3}\n'
    with pytest.raises(ValueError, match='flow style'):
        tool.update_metafile_text(text, {'m': {'Parameters': 1}})
    with pytest.raises(ValueError, match='not an item'):
        tool.update_metafile_text(text, {'other': {'Parameters': 1}})
