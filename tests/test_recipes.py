# Copyright (c) mmhybrid contributors. All rights reserved.
"""docs/en/recipes.md is tied to the configs: every "ours" value of its tables is read from the
merged configs it names, and every config is covered by some table.

A table belongs to the configs of the ``Configs:`` line above it. Its rows are
``| ingredient | authors' value | source | config key | ours | verdict |``; the config key is a
dotted path (``optim_wrapper.optimizer.lr``, ``param_scheduler[0].end``) or a derived ``@key``
of :mod:`mmhybrid.analysis.recipe`, and "ours" is a Python literal (``MISSING``: the config has
no such key). Rows whose key is ``—`` are not checked (an ingredient with no config value).
"""
import ast
import math
import os
import os.path as osp
import re
from functools import lru_cache
from typing import Any, Dict, List, Tuple

import pytest

from mmhybrid.analysis.recipe import MISSING, config_value, load_recipe_config

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DOC = osp.join(REPO, 'docs', 'en', 'recipes.md')
VERDICTS = ('SAME', 'DIFFERENT', 'OURS')
NO_KEY = ('—', '-', '')

Row = Tuple[int, str, str, str]  # line number, config key, ours (literal), verdict


def parse_recipes(text: str) -> List[Tuple[List[str], List[Row]]]:
    """``[(configs, rows), ...]``: each table with the configs of the ``Configs:`` line above."""
    tables: List[Tuple[List[str], List[Row]]] = []
    configs: List[str] = []
    in_table = False
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith('Configs:'):
            configs = re.findall(r'`([^`]+\.py)`', line)
            in_table = False
            continue
        if not line.startswith('|'):
            in_table = False
            continue
        cells = [cell.strip() for cell in line.strip().strip('|').split('|')]
        if set(line.replace('|', '').strip()) <= set('-: '):
            continue  # the separator row
        if cells[0].lower() == 'ingredient':
            assert configs, f'recipes.md:{number}: a table without a Configs: line above'
            tables.append((list(configs), []))
            in_table = True
            continue
        assert in_table, f'recipes.md:{number}: a table row outside a table'
        assert len(cells) == 6, f'recipes.md:{number}: expected 6 cells, got {len(cells)}'
        key = cells[3].strip('`')
        tables[-1][1].append((number, key, cells[4].strip('`'), cells[5]))
    return tables


@lru_cache(maxsize=None)
def merged(config: str) -> Dict[str, Any]:
    return load_recipe_config(osp.join(REPO, config))


def _normalise(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_normalise(v) for v in value]
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    return value


def same_value(actual: Any, expected: Any) -> bool:
    actual, expected = _normalise(actual), _normalise(expected)
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(actual) is type(expected) and actual == expected
    if isinstance(expected, float) and isinstance(actual, (int, float)) and \
            not isinstance(actual, bool):
        return math.isclose(actual, expected, rel_tol=1e-6, abs_tol=1e-12)
    if isinstance(expected, list) and isinstance(actual, list):
        return len(actual) == len(expected) and all(
            same_value(a, e) for a, e in zip(actual, expected))
    if isinstance(expected, dict) and isinstance(actual, dict):
        return actual.keys() == expected.keys() and all(
            same_value(actual[k], expected[k]) for k in expected)
    return actual == expected


def _literal(text: str, where: str) -> Any:
    if text == 'MISSING':
        return MISSING
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError) as exc:
        raise AssertionError(f'{where}: "ours" must be a Python literal, got {text!r}') from exc


TABLES = parse_recipes(open(DOC, encoding='utf-8').read()) if osp.isfile(DOC) else []
#: config -> the checked rows of every table naming it
ROWS_BY_CONFIG: Dict[str, List[Row]] = {}
for _configs, _rows in TABLES:
    for _config in _configs:
        ROWS_BY_CONFIG.setdefault(_config, []).extend(r for r in _rows if r[1] not in NO_KEY)


def test_the_document_has_tables_and_verdicts():
    assert TABLES, 'docs/en/recipes.md has no recipe table'
    for _, rows in TABLES:
        assert rows
        for number, _, _, verdict in rows:
            assert verdict.startswith(VERDICTS), (
                f'recipes.md:{number}: the verdict must start with SAME, DIFFERENT or OURS '
                f'(no released recipe), got {verdict!r}')
            if verdict.startswith('DIFFERENT') or verdict.startswith('OURS'):
                assert len(verdict.split(':', 1)[-1].strip()) > 10, \
                    f'recipes.md:{number}: say why'


def test_every_config_has_a_recipe_table():
    covered = {config for configs, _ in TABLES for config in configs}
    configs = set()
    for family in ('edgevit', 'hatnet', 'topformer', 'trt_vit'):
        folder = osp.join(REPO, 'configs', family)
        configs |= {f'configs/{family}/{name}' for name in os.listdir(folder)
                    if name.endswith('.py')}
    assert not configs - covered, f'configs without a table in recipes.md: {configs - covered}'
    assert not covered - configs, f'recipes.md names configs that do not exist: ' \
        f'{covered - configs}'


def mismatches(config: str, rows: List[Row]) -> List[str]:
    """One line per row whose "ours" differs from the merged config."""
    found = []
    cfg = merged(config)
    for number, key, ours, _ in rows:
        where = f'recipes.md:{number} {key}'
        expected = _literal(ours, where)
        actual = config_value(cfg, key)
        if expected is MISSING or actual is MISSING:
            equal = actual is expected
        else:
            equal = same_value(actual, expected)
        if not equal:
            found.append(f'{where}: the table says {ours}, the merged config has {actual!r}')
    return found


@pytest.mark.parametrize('config', sorted(ROWS_BY_CONFIG))
def test_table_values_equal_the_merged_config(config):
    found = mismatches(config, ROWS_BY_CONFIG[config])
    assert not found, f'{config}: docs/en/recipes.md and the config disagree (change both):\n' \
        + '\n'.join(found)


def test_a_changed_value_is_caught():
    config = 'configs/edgevit/edgevit-xxs_8xb256_in1k.py'
    rows = [(1, 'optim_wrapper.optimizer.lr', '0.003', 'SAME'),
            (2, '@backbone_init', "'random initialisation'", 'SAME'),
            (3, 'optim_wrapper.no_such_key', 'MISSING', 'SAME')]
    assert mismatches(config, rows) == [
        'recipes.md:1 optim_wrapper.optimizer.lr: the table says 0.003, the merged config has '
        '0.002']


def test_parser_reads_configs_keys_and_literals():
    text = '\n'.join([
        'Configs: `configs/a/x_8xb2.py`, `configs/a/y_8xb2.py`',
        '',
        '| Ingredient | Authors | Source | Config key | Ours | Verdict |',
        '|---|---|---|---|---|---|',
        "| lr | 1e-4 | repo | `optim_wrapper.optimizer.lr` | `0.0001` | SAME |",
        '| noise | 0.42 | repo | — | none | DIFFERENT: not in MMEngine |',
    ])
    (configs, rows), = parse_recipes(text)
    assert configs == ['configs/a/x_8xb2.py', 'configs/a/y_8xb2.py']
    assert rows == [(5, 'optim_wrapper.optimizer.lr', '0.0001', 'SAME'),
                    (6, '—', 'none', 'DIFFERENT: not in MMEngine')]
    assert same_value((0.9, 0.999), [0.9, 0.999]) and same_value(5e-4 * 2048 / 512, 0.002)
    assert not same_value(True, 1.0) and not same_value(0.1, 0.3)


def _downstream_configs(family: str) -> List[str]:
    folder = osp.join(REPO, 'configs', family)
    return sorted(f'configs/{family}/{name}' for name in os.listdir(folder)
                  if name.endswith('.py') and '_in1k' not in name)


@pytest.mark.parametrize('config', _downstream_configs('edgevit') + _downstream_configs('trt_vit'))
def test_unreleased_families_start_from_the_same_size_imagenet_run(config, tmp_path):
    """EdgeViT and TRT-ViT have no released weights: every detector and segmentor loads the
    checkpoint its size's ImageNet config writes, and a missing file fails with the exact
    pretraining command and the opt-out."""
    from mmengine.config import Config

    from mmhybrid.apis.official_weights import NO_RELEASED_WEIGHTS
    from mmhybrid.apis.runner_setup import check_pretrained_files

    size = re.search(r'(edgevit-(?:xxs|xs|s)|trt-vit-[abcd])_', config).group(1)
    entry = NO_RELEASED_WEIGHTS[f'{size}_8xb256_in1k' if 'edgevit' in size else
                                f'{size}_8xb128_in1k']
    cfg = Config.fromfile(osp.join(REPO, config), import_custom_modules=False)
    init_cfg = cfg.model.backbone.init_cfg
    assert init_cfg.type == 'Pretrained' and init_cfg.prefix == 'backbone.'
    assert init_cfg.checkpoint == entry.work_dir_checkpoint

    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with pytest.raises(FileNotFoundError) as error:
            check_pretrained_files(cfg)
    finally:
        os.chdir(cwd)
    message = str(error.value)
    assert (f'python -m torch.distributed.run --nproc_per_node=8 tools/train.py '
            f'{entry.config} --launcher pytorch') in message
    assert '--cfg-options model.backbone.init_cfg=None' in message
