# Copyright (c) mmhybrid contributors. All rights reserved.
"""The metafiles cover every config, and README's model zoo is generated from them
(``tools/analysis_tools/sync_model_zoo.py``, reading :mod:`mmhybrid.apis.metafiles`)."""
import os.path as osp
import subprocess
import sys
import textwrap

import pytest
from helpers import load_tool

from mmhybrid.apis.metafiles import ModelEntry, list_configs, load_model_index

SYNC_TOOL = load_tool('analysis_tools/sync_model_zoo.py')
START_MARKER, END_MARKER = SYNC_TOOL.START_MARKER, SYNC_TOOL.END_MARKER
check_metafiles, extract_model_zoo = SYNC_TOOL.check_metafiles, SYNC_TOOL.extract_model_zoo
render_model_zoo, replace_model_zoo = SYNC_TOOL.render_model_zoo, SYNC_TOOL.replace_model_zoo

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SYNC = osp.join(ROOT, 'tools', 'analysis_tools', 'sync_model_zoo.py')


def test_every_config_is_in_a_metafile_and_every_metafile_config_exists():
    problems = check_metafiles(ROOT)
    assert not problems, 'metafile problems:\n' + '\n'.join(problems)


def test_readme_model_zoo_is_in_sync_with_the_metafiles():
    with open(osp.join(ROOT, 'README.md'), encoding='utf-8') as f:
        readme = f.read()
    section = extract_model_zoo(readme)
    assert section is not None, f'README.md lacks the markers {START_MARKER} / {END_MARKER}'
    assert section.strip() == render_model_zoo(ROOT).strip(), (
        'README.md model zoo is out of date: run python tools/analysis_tools/sync_model_zoo.py')


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


@pytest.fixture
def tiny_repo(tmp_path):
    _write(tmp_path / 'model-index.yml', 'Import:\n  - configs/fam/metafile.yml\n')
    _write(tmp_path / 'configs/fam/a_8xb32_in1k.py', '')
    _write(tmp_path / 'configs/fam/fpn_a_ade20k-512x512.py', '')
    _write(tmp_path / 'configs/_base_/models/a.py', '')  # never needs a metafile entry
    _write(tmp_path / 'configs/fam/metafile.yml', """\
        Collections:
          - Name: Fam
            Paper:
              Title: A paper
              URL: https://arxiv.org/abs/0000.00000
        Models:
          - Name: a_8xb32_in1k
            In Collection: Fam
            Config: configs/fam/a_8xb32_in1k.py
            Metadata:
              Parameters: 4067704
              FLOPs: 557457984
            Results:
              - Task: Image Classification
                Dataset: ImageNet-1k
                Metrics:
                  Top 1 Accuracy: 74.4
          - Name: fpn_a_ade20k-512x512
            In Collection: Fam
            Config: configs/fam/fpn_a_ade20k-512x512.py
            Results:
              - Task: Semantic Segmentation
                Dataset: ADE20K
                Metrics:
                  mIoU: 39.7
        """)
    _write(tmp_path / 'README.md', f'# x\n\n## Model zoo\n\n{START_MARKER}\n{END_MARKER}\n\n'
           '## Next\n')
    return tmp_path


@pytest.mark.slow  # four runs of the sync tool, each importing mmhybrid
def test_render_and_sync_on_a_tiny_repo(tiny_repo):
    assert check_metafiles(str(tiny_repo)) == []
    assert list_configs(str(tiny_repo)) == [
        'configs/fam/a_8xb32_in1k.py', 'configs/fam/fpn_a_ade20k-512x512.py']
    section = render_model_zoo(str(tiny_repo))
    assert '| a_8xb32_in1k | 4.07 | 0.56 | 74.4 | [config](configs/fam/a_8xb32_in1k.py) | - |' \
        in section
    assert '| fpn_a_ade20k-512x512 | - | - | 39.7 |' in section

    command = [sys.executable, SYNC, '--root', str(tiny_repo)]
    assert subprocess.run(command + ['--check'], capture_output=True).returncode == 1
    assert subprocess.run(command, capture_output=True).returncode == 0
    assert subprocess.run(command + ['--check'], capture_output=True).returncode == 0
    readme = (tiny_repo / 'README.md').read_text()
    assert readme.startswith('# x\n\n## Model zoo\n') and readme.endswith('## Next\n')

    # drift: a metafile figure changes -> --check fails until the README is regenerated
    metafile = tiny_repo / 'configs/fam/metafile.yml'
    metafile.write_text(metafile.read_text().replace('74.4', '74.5'))
    assert subprocess.run(command + ['--check'], capture_output=True).returncode == 1


def test_metafile_problems_are_reported(tiny_repo):
    import yaml
    metafile = tiny_repo / 'configs/fam/metafile.yml'
    data = yaml.safe_load(metafile.read_text())
    data['Models'][0]['Results'] = data['Models'][0]['Results'][0]  # a mapping, not a list
    data['Models'][1]['Config'] = 'configs/fam/missing.py'
    metafile.write_text(yaml.safe_dump(data, sort_keys=False))
    (tiny_repo / 'configs/other').mkdir()
    (tiny_repo / 'configs/other/metafile.yml').write_text('Models: []\n')
    problems = '\n'.join(check_metafiles(str(tiny_repo)))
    assert 'configs/other/metafile.yml is not imported by model-index.yml' in problems
    assert "Config 'configs/fam/missing.py' does not exist" in problems
    assert 'configs/fam/fpn_a_ade20k-512x512.py is in no metafile' in problems
    assert 'a_8xb32_in1k: Results must be a list' in problems
    # the loader still accepts the mapping, so other tools keep working
    _, models = load_model_index(str(tiny_repo))
    assert models[0].primary_task == 'Image Classification'


def test_replace_without_markers_explains_the_fix():
    with pytest.raises(ValueError, match='model-zoo markers'):
        replace_model_zoo('# README\n## Model zoo\n', 'table')


def test_weights_column_says_what_a_user_can_get():
    _weights_cell = SYNC_TOOL._weights_cell
    base = dict(name='m', collection='c', config='configs/m.py', metafile='metafile.yml')
    authors = 'https://example.org/m.pth'
    assert _weights_cell(ModelEntry(**base, weights='https://host/m.pth')) == \
        '[model](https://host/m.pth)'
    assert _weights_cell(ModelEntry(**base, converted_from={'Weights': authors})) == \
        f"[authors']({authors}), fetch + convert"
    assert _weights_cell(ModelEntry(**base, weights_declared=True)) == 'none released'
    assert _weights_cell(ModelEntry(**base)) == '-'
