# Copyright (c) mmhybrid contributors. All rights reserved.
"""Golden outputs: every backbone arch (and graph-changing mode) pinned to recorded numbers.

For each case the model is built, every floating-point parameter and buffer is overwritten by
``set_deterministic_weights`` (``tests/test_models/conftest.py``: a function of the tensor's
name and shape, independent of the torch RNG and version), and the eval-mode float64 forward on
a fixed sin/cos input of 1x3x67x93 (odd sizes exercise the padding paths) is summarised as:
shape, sum, mean, std, abs-max and eight values at fixed flat indices of every output. Each
case also records the parameter count, a SHA-256 of the sorted state-dict keys with their
shapes (a renamed, reshaped, added or removed tensor fails) and, for one arch per family and
mode, the default ``out_indices`` and (where the attribute exists) ``out_channels``.

A refactor that is meant to leave the models unchanged must keep these tests green. When a
change of numbers is intended (a bug fix, a new default), regenerate the data and commit it
with the reason::

    python tests/test_models/test_golden_outputs.py --regenerate --force

(``--regenerate`` alone refuses to overwrite an existing ``tests/data/golden_outputs.json``.)
"""
import argparse
import hashlib
import importlib.util
import json
import os.path as osp
import sys
from typing import Callable, Dict, List, Tuple

import pytest
import torch
import torch.nn as nn

from mmhybrid.models import EdgeViT, HATNet, TopFormer, TransCNN, TRTViT

GOLDEN_PATH = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'data',
                       'golden_outputs.json')
INPUT_SHAPE = (1, 3, 67, 93)
#: Flat indices sampled from every output (taken modulo its numel).
SAMPLE_INDICES = (0, 1, 17, 123, 1009, 4099, 31337, -1)
RTOL = 1e-5
REGENERATE_HINT = (
    'If this change is intentional (the numbers, keys or sizes of a model are meant to '
    'change), regenerate the golden data with\n'
    '    python tests/test_models/test_golden_outputs.py --regenerate --force\n'
    'and commit tests/data/golden_outputs.json together with the reason. A refactor that '
    'should be behaviour-preserving must NOT regenerate: fix the code instead.')

#: name -> (backbone class, constructor kwargs). ``out_indices`` asks for every candidate
#: output so that each stage is pinned; the default ``out_indices`` are recorded separately.
BACKBONE_CASES: Dict[str, Tuple[type, dict]] = {}
for _arch in ('tiny', 'small', 'base'):
    BACKBONE_CASES[f'TopFormer-{_arch}-dense'] = (
        TopFormer, dict(arch=_arch, mode='dense', out_indices=(0, 1, 2, 3)))
    BACKBONE_CASES[f'TopFormer-{_arch}-global'] = (
        TopFormer, dict(arch=_arch, mode='global', out_indices=(0, 1, 2, 3, 4)))
for _arch in ('xxs', 'xs', 's'):
    BACKBONE_CASES[f'EdgeViT-{_arch}'] = (EdgeViT, dict(arch=_arch, out_indices=(0, 1, 2, 3)))
BACKBONE_CASES['EdgeViT-xxs-final_norm'] = (
    EdgeViT, dict(arch='xxs', out_indices=(0, 1, 2, 3), final_norm=True))
for _cls in (HATNet, TransCNN):
    for _arch in ('tiny', 'small', 'medium', 'large'):
        BACKBONE_CASES[f'{_cls.__name__}-{_arch}'] = (
            _cls, dict(arch=_arch, out_indices=(0, 1, 2, 3)))
for _arch in 'abcd':
    BACKBONE_CASES[f'TRTViT-{_arch}'] = (TRTViT, dict(arch=_arch, out_indices=(0, 1, 2, 3)))
for _block in ('MixBlockA', 'MixBlockB'):
    BACKBONE_CASES[f'TRTViT-a-{_block}'] = (
        TRTViT, dict(arch='a', mix_block=_block, out_indices=(0, 1, 2, 3)))

#: Cases that also record the default ``out_indices`` / ``out_channels`` (one per family and
#: mode; building a second model for every arch would double the build time).
DEFAULTS_CASES = ('TopFormer-tiny-dense', 'TopFormer-tiny-global', 'EdgeViT-xxs', 'HATNet-tiny',
                  'TransCNN-tiny', 'TRTViT-a')

#: Whole-model goldens: TopFormer-T segmentor (TopFormerHead) and classifier (TopFormerClsHead),
#: as in configs/_base_/models/topformer.py and topformer_cls.py but with plain BN.
SEGMENTOR_CFG = dict(
    type='EncoderDecoder',
    backbone=dict(type='mmhybrid.TopFormer', arch='tiny', mode='dense', out_indices=(1, 2, 3),
                  norm_cfg=dict(type='BN')),
    decode_head=dict(type='mmhybrid.TopFormerHead', in_channels=[128, 128, 128],
                     in_index=[0, 1, 2], channels=128, depthwise_fuse=True, dropout_ratio=0.1,
                     num_classes=19, norm_cfg=dict(type='BN'), align_corners=False,
                     loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
CLASSIFIER_CFG = dict(
    type='ImageClassifier',
    backbone=dict(type='mmhybrid.TopFormer', arch='tiny', mode='global'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='mmhybrid.TopFormerClsHead', num_classes=10, in_channels=208,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))


def _helpers():
    """``tests/test_models/conftest.py`` as a module (also works when run as a script)."""
    module = sys.modules.get('_mmhybrid_model_test_helpers')
    if module is None:
        path = osp.join(osp.dirname(osp.abspath(__file__)), 'conftest.py')
        spec = importlib.util.spec_from_file_location('_mmhybrid_model_test_helpers', path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules['_mmhybrid_model_test_helpers'] = module
    return module


def _build_segmentor() -> nn.Module:
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS

    # Registries resolve names in the current default scope, whatever an earlier test left.
    with DefaultScope.overwrite_default_scope('mmseg'):
        return MODELS.build(SEGMENTOR_CFG)


def _build_classifier() -> nn.Module:
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS

    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(CLASSIFIER_CFG)


def _builder(name: str) -> Callable[[], nn.Module]:
    if name == 'segmentor-TopFormer-tiny':
        return _build_segmentor
    if name == 'classifier-TopFormer-tiny':
        return _build_classifier
    cls, kwargs = BACKBONE_CASES[name]
    return lambda: cls(**kwargs)


ALL_CASES: List[str] = list(BACKBONE_CASES) + ['segmentor-TopFormer-tiny',
                                                'classifier-TopFormer-tiny']


def state_dict_signature(model: nn.Module) -> str:
    """SHA-256 of the sorted ``key:shape`` lines of the state dict."""
    lines = sorted(f'{k}:{tuple(v.shape)}' for k, v in model.state_dict().items())
    return hashlib.sha256('\n'.join(lines).encode('utf-8')).hexdigest()


def summarise(out: torch.Tensor) -> dict:
    flat = out.detach().reshape(-1).double()
    return dict(
        shape=list(out.shape),
        sum=flat.sum().item(),
        mean=flat.mean().item(),
        std=flat.std().item() if flat.numel() > 1 else 0.,
        absmax=flat.abs().max().item(),
        samples=[flat[i % flat.numel()].item() for i in SAMPLE_INDICES])


def compute_case(name: str) -> dict:
    """Build, fix the weights, run, summarise (what the JSON stores for ``name``)."""
    torch.manual_seed(0)
    model = _builder(name)()
    record = dict(num_params=sum(p.numel() for p in model.parameters()),
                  state_dict_sha256=state_dict_signature(model),
                  num_state_dict_keys=len(model.state_dict()))
    if name in DEFAULTS_CASES:
        cls, kwargs = BACKBONE_CASES[name]
        default = cls(**{k: v for k, v in kwargs.items() if k != 'out_indices'})
        record['default_out_indices'] = list(default.out_indices)
        if hasattr(default, 'out_channels'):
            record['default_out_channels'] = list(default.out_channels)
    model = _helpers().set_deterministic_weights(model.double()).eval()
    x = _helpers().make_deterministic_input(INPUT_SHAPE)
    with torch.no_grad():
        outs = model(x, mode='tensor') if name not in BACKBONE_CASES else model(x)
    if isinstance(outs, torch.Tensor):
        outs = (outs, )
    record['outputs'] = [summarise(out) for out in outs]
    return record


def _load_golden() -> dict:
    if not osp.exists(GOLDEN_PATH):
        pytest.fail(f'{GOLDEN_PATH} is missing. Create it with\n'
                    '    python tests/test_models/test_golden_outputs.py --regenerate')
    with open(GOLDEN_PATH) as f:
        return json.load(f)


def _close(actual: float, expected: float, scale: float) -> bool:
    # rtol on the value, atol relative to the magnitude of the whole output (sums and samples
    # near zero cannot be held to a relative tolerance).
    return abs(actual - expected) <= RTOL * abs(expected) + RTOL * 1e-2 * scale


def _compare(name: str, expected: dict, actual: dict) -> List[str]:
    problems = []
    for key in ('num_params', 'state_dict_sha256', 'num_state_dict_keys', 'default_out_indices',
                'default_out_channels'):
        if expected.get(key) != actual.get(key):
            problems.append(f'{key}: recorded {expected.get(key)!r}, now {actual.get(key)!r}')
    if len(expected['outputs']) != len(actual['outputs']):
        problems.append(f'number of outputs: recorded {len(expected["outputs"])}, now '
                        f'{len(actual["outputs"])}')
        return problems
    for i, (exp, act) in enumerate(zip(expected['outputs'], actual['outputs'])):
        if exp['shape'] != act['shape']:
            problems.append(f'output {i} shape: recorded {exp["shape"]}, now {act["shape"]}')
            continue
        numel = 1
        for size in exp['shape']:
            numel *= size
        scale = exp['absmax']
        checks = [('absmax', scale), ('std', scale), ('mean', scale),
                  ('sum', scale * numel**0.5)]
        for key, key_scale in checks:
            if not _close(act[key], exp[key], key_scale):
                problems.append(f'output {i} {key}: recorded {exp[key]!r}, now {act[key]!r}')
        for j, (e, a) in enumerate(zip(exp['samples'], act['samples'])):
            if not _close(a, e, scale):
                problems.append(f'output {i} sample[{SAMPLE_INDICES[j]}]: recorded {e!r}, '
                                f'now {a!r}')
    return problems


@pytest.mark.parametrize('name', ALL_CASES)
def test_golden_outputs(name):
    """Pins parameter count, state-dict keys/shapes, default ``out_indices``/``out_channels``
    and the float64 eval outputs (to rtol 1e-5) of ``name`` under fixed weights and input."""
    golden = _load_golden()
    assert golden.get('input_shape') == list(INPUT_SHAPE) and \
        golden.get('sample_indices') == list(SAMPLE_INDICES), \
        f'The golden file was made with other settings. {REGENERATE_HINT}'
    assert name in golden['cases'], f'No golden record for {name!r}. {REGENERATE_HINT}'
    problems = _compare(name, golden['cases'][name], compute_case(name))
    assert not problems, (f'{name} no longer matches {GOLDEN_PATH}:\n  ' +
                          '\n  '.join(problems[:20]) + f'\n{REGENERATE_HINT}')


def test_golden_file_lists_exactly_the_cases():
    """A case added here or removed from the JSON is noticed (no silently stale records)."""
    assert sorted(_load_golden()['cases']) == sorted(ALL_CASES), REGENERATE_HINT


def test_deterministic_weights_do_not_use_the_rng():
    """The weight and input helpers ignore the torch RNG (goldens stay valid across seeds and
    torch versions) and give well-conditioned, non-degenerate values."""
    helpers = _helpers()
    torch.manual_seed(1)
    a = helpers.set_deterministic_weights(TopFormer('tiny').double()).state_dict()
    torch.manual_seed(2)
    b = helpers.set_deterministic_weights(TopFormer('tiny').double()).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert all((v > 0).all() for k, v in a.items() if k.endswith('running_var'))
    weight = a['trans.transformer_blocks.0.mlp.fc1.c.weight'].flatten(1)
    assert torch.linalg.matrix_rank(weight) == min(weight.shape)  # not low-rank
    x = helpers.make_deterministic_input((2, 3, 5, 7))
    assert torch.equal(x, helpers.make_deterministic_input((2, 3, 5, 7)))
    assert not torch.equal(x[0], x[1])


def regenerate(force: bool) -> None:
    if osp.exists(GOLDEN_PATH) and not force:
        raise SystemExit(f'{GOLDEN_PATH} exists; pass --force to overwrite it (only when a '
                         'change of the model numbers is intended).')
    import mmhybrid.models  # noqa: F401 (registers the models in the downstream scopes)
    torch.set_num_threads(1)
    golden = dict(input_shape=list(INPUT_SHAPE), sample_indices=list(SAMPLE_INDICES),
                  torch_version=torch.__version__, cases={})
    for name in ALL_CASES:
        golden['cases'][name] = compute_case(name)
        print(f'{name}: {[o["shape"] for o in golden["cases"][name]["outputs"]]}')
    import os
    os.makedirs(osp.dirname(GOLDEN_PATH), exist_ok=True)
    with open(GOLDEN_PATH + '.part', 'w') as f:
        json.dump(golden, f, indent=1, sort_keys=True)
        f.write('\n')
    os.replace(GOLDEN_PATH + '.part', GOLDEN_PATH)
    print(f'wrote {GOLDEN_PATH} ({len(ALL_CASES)} cases)')


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description='Regenerate tests/data/golden_outputs.json.')
    parser.add_argument('--regenerate', action='store_true', help='recompute and write the file')
    parser.add_argument('--force', action='store_true', help='overwrite an existing file')
    args = parser.parse_args()
    if not args.regenerate:
        parser.error('nothing to do: pass --regenerate (run the checks with pytest)')
    regenerate(args.force)
