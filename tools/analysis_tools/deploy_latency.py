# Copyright (c) mmhybrid contributors. All rights reserved.
"""Which path to deploy: every family's eager, fused, compiled, ONNX Runtime fp32 and int8
latency at several thread counts, next to the CNN baselines, measured in one run.

For each model (default: one per family plus the MobileNetV2 / MobileNetV3-Large / ResNet-50
baselines) the tool builds the measured module (:mod:`mmhybrid.analysis.task_model`; random
weights, BN statistics randomised), folds it once, exports and quantizes it once
(:func:`mmhybrid.analysis.compare_deploy_paths`), and times at every ``--threads`` count:

* *eager*: PyTorch as built; *fused*: after ``switch_to_deploy`` (conv+BN folded);
* *compiled*: the fused model compiled as one graph by ``torch.compile`` (inductor, compiled
  anew per thread count; the compile time is reported);
* *ORT fp32* / *ORT int8*: the fused model in onnxruntime (CPU provider, all graph
  optimisations), the int8 file quantized by :mod:`mmhybrid.analysis.quantize` (QDQ,
  per-channel), calibrated on random inputs (latency does not depend on the values).

Every path's outputs are compared with eager (relative error in the JSON). Each cell is the
median in ms and the ratio to the same model's eager time; a second table gives the ratios to the
baselines (same path, same thread count). The accuracy of int8 comes from
``tools/deployment/quantize.py --json`` runs on the tiny sets, passed with ``--int8-accuracy``
(matched by config name). Writes ``--out`` (Markdown) and ``<out stem>.json``, atomically; an
existing file is refused unless ``--force``. Example::

    python tools/analysis_tools/deploy_latency.py --threads 1 2 --runs 10 \\
        --int8-accuracy work_dirs/int8/*.json --out docs/en/latency/deploy_paths.md
"""
import argparse
import json
import os.path as osp
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)  # a checkout

from mmhybrid.analysis import (  # noqa: E402
    ALL_MODES,
    BASELINE_CONFIGS,
    build_task_model,
    compare_deploy_paths,
    machine_info,
)
from mmhybrid.utils.fileio import atomic_output, check_destination  # noqa: E402

#: One model per family: the classifiers at 224 (comparable with the classification baselines)
#: and the TopFormer-T segmentor at 512 (the demo's model).
DEFAULT_MODELS = (
    'configs/edgevit/edgevit-xxs_8xb256_in1k.py',
    'configs/hatnet/hatnet-tiny_8xb128_in1k.py',
    'configs/topformer/topformer-t_8xb128_in1k.py',
    'configs/trt_vit/trt-vit-a_8xb128_in1k.py',
    'configs/topformer/topformer_t_ade20k.py',
)
DEFAULT_BASELINES = ('MobileNetV2', 'MobileNetV3-Large', 'ResNet-50')
MODE_TITLES = {'eager': 'eager', 'fused': 'fused', 'compiled': 'compiled',
               'onnxruntime': 'ORT fp32', 'onnxruntime-int8': 'ORT int8'}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--models', nargs='+', default=list(DEFAULT_MODELS),
                        help='config files (default: one per family)')
    parser.add_argument('--baselines', nargs='*', default=list(DEFAULT_BASELINES),
                        choices=sorted(BASELINE_CONFIGS), metavar='NAME',
                        help=f'baseline names (default: {", ".join(DEFAULT_BASELINES)})')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='one input size for every model (default: each config\'s own)')
    parser.add_argument('--threads', type=int, nargs='+', default=[1, 2])
    parser.add_argument('--runs', type=int, default=10, help='timed runs per path')
    parser.add_argument('--warmup', type=int, default=3, help='untimed runs per path')
    parser.add_argument('--compile-mode', default=None, help='torch.compile mode')
    parser.add_argument('--int8-accuracy', nargs='*', default=[], metavar='JSON',
                        help='tools/deployment/quantize.py --json outputs')
    parser.add_argument('--out', required=True, help='Markdown file; JSON written beside it')
    parser.add_argument('--force', action='store_true', help='replace existing outputs')
    return parser.parse_args(argv)


def output_paths(out: str):
    return out, osp.splitext(out)[0] + '.json'


def load_accuracy(paths):
    """config name -> the metrics of a ``quantize.py --json`` run."""
    accuracy = {}
    for path in paths:
        with open(path) as f:
            result = json.load(f)
        try:
            name = osp.splitext(osp.basename(result['config']))[0]
            accuracy[name] = dict(
                metric=result['metric'], fp32=result['metrics']['fp32']['value'],
                int8=result['metrics']['int8']['value'], delta=result['delta'],
                images=result['metrics']['fp32'].get('images'), source=osp.basename(path))
        except KeyError as exc:
            raise SystemExit(f'error: {path} is not a quantize.py --json output (no {exc}).')
    return accuracy


def measure_model(name: str, config: str, args) -> dict:
    start = time.perf_counter()
    task = build_task_model(config, shape=args.shape)
    inputs = task.make_inputs()
    results = compare_deploy_paths(
        task.module, inputs, threads=args.threads, warmup=args.warmup, runs=args.runs,
        compile_mode=args.compile_mode, log=lambda msg: print(f'  {name}: {msg}', flush=True))
    return dict(name=name, config=config, scope=task.scope, input_shape=list(inputs.shape),
                seconds=time.perf_counter() - start,
                threads={str(count): [row.to_dict() for row in rows]
                         for count, rows in results.items()})


def _median(row: dict, count: int, mode: str) -> float:
    return next(r['median_ms'] for r in row['threads'][str(count)] if r['mode'] == mode)


def render(rows, baselines, accuracy, info) -> str:
    machine = info['machine']
    lines = [
        '# Which path to deploy: eager, fused, compiled, ONNX Runtime fp32 and int8',
        '',
        f'Measured in one run of `tools/analysis_tools/deploy_latency.py` on {machine["date"]}: '
        f'CPU {machine["cpu"]}, torch {machine["torch"]}, onnxruntime '
        f'{machine.get("onnxruntime", "?")}; batch 1, random weights, {info["warmup"]} warm-up '
        f'and {info["runs"]} timed runs per path (median). Each cell: median ms (ratio to the '
        'same model\'s eager time at the same thread count).',
        '',
    ]
    modes = list(ALL_MODES)
    for count in info['threads']:
        lines += [f'## {count} thread{"s" if count > 1 else ""}', '',
                  '| model | input | ' + ' | '.join(MODE_TITLES[m] for m in modes) +
                  ' | compile s | int8 accuracy (tiny set) |',
                  '| --- | --- | ' + ' | '.join('---:' for _ in modes) + ' | ---: | --- |']
        for row in rows:
            eager = _median(row, count, 'eager')
            cells = []
            for mode in modes:
                median = _median(row, count, mode)
                cells.append(f'{median:.1f}' if mode == 'eager' else
                             f'{median:.1f} ({median / eager:.2f}x)')
            compiled = next(r for r in row['threads'][str(count)] if r['mode'] == 'compiled')
            acc = accuracy.get(row['name'])
            acc_text = ('not measured' if acc is None else
                        f'{acc["metric"]} {acc["fp32"]:.2f} -> {acc["int8"]:.2f} '
                        f'({acc["delta"]:+.2f})')
            shape = 'x'.join(str(v) for v in row['input_shape'][2:])
            lines.append(f'| {row["name"]} | {shape} | ' + ' | '.join(cells) +
                         f' | {compiled["compile_s"]:.0f} | {acc_text} |')
        lines.append('')
        base_rows = [row for row in rows if row['name'] in baselines]
        if base_rows:
            lines += [f'Ratios to the baselines at {count} thread{"s" if count > 1 else ""} '
                      '(same path; the fastest path of each model against the fastest of the '
                      'baseline in the last columns; only models with the same input size):', '',
                      '| model | ' + ' | '.join(
                          f'{MODE_TITLES[m]} / {b["name"]}' for b in base_rows
                          for m in ('eager', 'onnxruntime-int8')) + ' | ' + ' | '.join(
                          f'best / {b["name"]} best' for b in base_rows) + ' |',
                      '| --- | ' + ' | '.join('---:' for _ in range(3 * len(base_rows))) + ' |']
            for row in rows:
                cells = []
                for base in base_rows:
                    same = base['input_shape'] == row['input_shape']
                    for mode in ('eager', 'onnxruntime-int8'):
                        cells.append(f'{_median(row, count, mode) / _median(base, count, mode):.2f}'
                                     if same else '-')
                for base in base_rows:
                    best = min(_median(row, count, m) for m in modes)
                    base_best = min(_median(base, count, m) for m in modes)
                    cells.append(f'{best / base_best:.2f}'
                                 if base['input_shape'] == row['input_shape'] else '-')
                lines.append(f'| {row["name"]} | ' + ' | '.join(cells) + ' |')
            lines.append('')
    lines += ['Every number, the spread of each measurement and the relative error of each path '
              'against eager are in the JSON file next to this one.', '']
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    out_md, out_json = output_paths(args.out)
    try:
        for path in (out_md, out_json):
            check_destination(path, force=args.force)
    except (FileExistsError, IsADirectoryError) as exc:
        raise SystemExit(f'error: {exc}') from None
    accuracy = load_accuracy(args.int8_accuracy)
    jobs = [(osp.splitext(osp.basename(config))[0], config) for config in args.models]
    jobs += [(name, BASELINE_CONFIGS[name]) for name in args.baselines]
    info = dict(machine=machine_info(), threads=args.threads, runs=args.runs,
                warmup=args.warmup, compile_mode=args.compile_mode or 'default')
    rows = []
    for name, config in jobs:
        print(f'{name}: measuring', flush=True)
        rows.append(measure_model(name, config, args))
    text = render(rows, set(args.baselines), accuracy, info)
    with atomic_output(out_md) as tmp, open(tmp, 'w') as f:
        f.write(text)
    with atomic_output(out_json) as tmp, open(tmp, 'w') as f:
        json.dump(dict(info, models=rows, int8_accuracy=accuracy), f, indent=2)
    print(text)
    print(f'written: {out_md}, {out_json}')
    return rows


if __name__ == '__main__':
    main()
