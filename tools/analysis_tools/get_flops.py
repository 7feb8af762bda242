# Copyright (c) mmhybrid contributors. All rights reserved.
"""Parameters and FLOPs of a config's model, backbone and measured model, attention counted.

FLOPs are fvcore-style multiply-accumulates of one image, with the attention matmuls
(``F.scaled_dot_product_attention``, ``@``/``torch.matmul``, ``bmm``, ``einsum``) counted; see
:mod:`mmhybrid.analysis.complexity`. What "model" means per task (classifier logits, segmentor
decode-head logits, detector backbone + neck, plus the dense head for detectors) is described
in :mod:`mmhybrid.tasks.task_model`. Examples::

    python tools/analysis_tools/get_flops.py configs/edgevit/edgevit-xxs_8xb256_in1k.py
    python tools/analysis_tools/get_flops.py configs/topformer/topformer_t_ade20k.py \\
        --shape 512 512 --by-operator
    python tools/analysis_tools/get_flops.py mmpretrain::resnet/resnet50_8xb32_in1k.py --json
"""
import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))  # a checkout
sys.path.append(osp.dirname(osp.dirname(osp.abspath(__file__))))  # tools/_light_cli.py
from _light_cli import ConfigOptionsAction  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help="config file, or e.g. 'mmseg::sem_fpn/xxx.py'")
    parser.add_argument('--shape', type=int, nargs='+', metavar='SIZE',
                        help='input H W (or one number for a square); default: the size '
                        'the config evaluates at (224 cls, crop size seg, 800x1333 det)')
    parser.add_argument('--by-operator', action='store_true', help='FLOPs per aten operator')
    parser.add_argument('--json', action='store_true', help='print one JSON object only')
    parser.add_argument('--cfg-options', nargs='+', action=ConfigOptionsAction,
                        help='override config settings, e.g. model.backbone.arch=small')
    return parser.parse_args(argv)


if __name__ == '__main__':
    parse_args()  # --help and usage errors answer before torch and OpenMMLab are imported

from mmhybrid.analysis import count_complexity  # noqa: E402
from mmhybrid.tasks import build_detector_head_probe, build_task_model  # noqa: E402


def _shape(values):
    if values is None:
        return None
    if len(values) == 1:
        return values * 2
    if len(values) == 2:
        return values
    raise SystemExit(f'--shape takes H W or one size, got {values}')


def get_flops(config: str, shape=None, cfg_options=None) -> dict:
    """Counts for ``config``: ``{'model': {...}, 'backbone': {...}[, 'model+dense head']}``."""
    task = build_task_model(config, shape=_shape(shape), cfg_options=cfg_options)
    x = task.make_inputs()
    results = dict(config=config, scope=task.scope, input_shape=list(task.input_shape))
    parts = [('model', task.module), ('backbone', task.model.backbone)]
    if task.scope == 'mmdet':
        parts.append(('model+dense head', build_detector_head_probe(task)))
    for name, module in parts:
        results[name] = count_complexity(module, x).to_dict()
    results['model']['description'] = dict(
        mmpretrain='classifier, images -> logits', mmseg='EncoderDecoder in tensor mode, '
        'images -> decode-head logits', mmdet='backbone + neck (extract_feat)')[task.scope]
    return results


def format_results(results: dict, by_operator: bool = False) -> str:
    height, width = results['input_shape']
    lines = [f'{results["config"]} ({results["scope"]}), input 1x3x{height}x{width}']
    for name in ('model', 'backbone', 'model+dense head'):
        if name not in results:
            continue
        r = results[name]
        attention = r['attention_flops']
        label = name + (f' ({r["description"]})' if 'description' in r else '')
        lines.append(f'  {label}')
        lines.append(f'    params: {r["params"] / 1e6:.3f} M ({r["params"]})')
        lines.append(f'    FLOPs : {r["flops"] / 1e9:.3f} G ({r["flops"]}); attention/matmul '
                     f'{attention / 1e9:.3f} G ({100 * attention / max(r["flops"], 1):.1f}%)')
        if by_operator:
            for op, flops in sorted(r['by_operator'].items(), key=lambda kv: -kv[1]):
                lines.append(f'      {op:<36}{flops / 1e9:>10.4f} G')
        if r['unsupported_ops']:
            ops = ', '.join(f'{k} x{v}' for k, v in sorted(r['unsupported_ops'].items()))
            lines.append(f'    not counted (element-wise and others): {ops}')
    lines.append('FLOPs: fvcore-style multiply-accumulates; attention matmuls included.')
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    results = get_flops(args.config, args.shape, args.cfg_options)
    print(json.dumps(results) if args.json else format_results(results, args.by_operator))
    return results


if __name__ == '__main__':
    main()
