# Copyright (c) mmhybrid contributors. All rights reserved.
"""CPU latency of TRT-ViT backbones next to ResNet-50, eager vs fused vs ONNX Runtime.

TRT-ViT's claim is "ResNet-like speed, Transformer-like accuracy" (measured with TensorRT on an
NVIDIA GPU in the paper). This script shows where this project's re-implementation stands against
mmpretrain's ResNet-50 *on the machine it runs on*, in three forms of the same weights:

* ``eager``: the PyTorch module as trained (BatchNorm separate), ``torch.inference_mode``;
* ``fused``: after ``switch_to_deploy`` (every conv + BN folded);
* ``onnxruntime``: the fused model exported to ONNX (opset 17) and run by ONNX Runtime's CPU
  execution provider.

Backbones only (no neck/head), at the classifier resolution (224x224, last stage) and at the
detection (800x1333) and segmentation (512x512) resolutions (all four stages). Every fused and
ONNX output is checked against eager before timing. Ratios are TRT-ViT latency / ResNet-50
latency in the same mode and at the same resolution (< 1 means faster than ResNet-50).

Example::

    python tools/analysis_tools/benchmark_trt_vit.py --archs a c --repeats 20
    python tools/analysis_tools/benchmark_trt_vit.py --resolutions 224x224 --threads 4 \
        --out work_dirs/trt_vit_latency.json

CPU numbers depend on the thread count, the CPU and what else runs on it; they say nothing about
TensorRT on a GPU, which is what the paper measured. ``--out`` is written atomically and an
existing file is only replaced with ``--force`` (checked before the measurements start).
"""
import argparse
import json
import os.path as osp
import sys
from typing import List, Tuple

sys.path.append(osp.dirname(osp.dirname(osp.abspath(__file__))))  # tools/_light_cli.py
from _light_cli import COMPARE_MODES, TRT_VIT_ARCHS  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_RESOLUTIONS = ('224x224', '800x1333', '512x512')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--archs', nargs='+', default=['a', 'b', 'c', 'd'],
                        choices=list(TRT_VIT_ARCHS), help='TRT-ViT variants to time')
    parser.add_argument('--resolutions', nargs='+', default=list(DEFAULT_RESOLUTIONS),
                        help='HxW input sizes; 224x224 times the classifier (last stage only), '
                        'any other size the four-stage detection/segmentation backbone')
    parser.add_argument('--modes', nargs='+', default=list(COMPARE_MODES),
                        choices=COMPARE_MODES)
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--warmup', type=int, default=3, help='untimed runs per measurement')
    parser.add_argument('--repeats', type=int, default=10, help='timed runs (median reported)')
    parser.add_argument('--threads', type=int, default=None,
                        help='intra-op threads for torch and ONNX Runtime (default: torch\'s)')
    parser.add_argument('--no-resnet', action='store_true', help='skip the ResNet-50 baseline')
    parser.add_argument('--out', help='also write the results to this JSON file')
    parser.add_argument('--force', action='store_true', help='replace an existing --out file')
    return parser.parse_args(argv)


if __name__ == '__main__':
    parse_args()  # --help and usage errors answer before torch and OpenMMLab are imported

from mmhybrid.analysis import count_parameters, machine_info, set_num_threads  # noqa: E402
from mmhybrid.deploy import compare_modes  # noqa: E402
from mmhybrid.tasks import BASELINE_CONFIGS, build_task_model  # noqa: E402
from mmhybrid.utils.fileio import atomic_output, check_destination  # noqa: E402


def parse_resolution(text: str) -> Tuple[int, int]:
    try:
        height, width = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise SystemExit(f'resolution must look like 224x224, got {text!r}')
    return height, width


def model_configs(archs, with_resnet: bool) -> List[Tuple[str, str]]:
    """``(display name, config)`` of every timed model: ResNet-50 first (the ratios' reference),
    then the TRT-ViT ImageNet configs."""
    configs = [('ResNet-50', BASELINE_CONFIGS['ResNet-50'])] if with_resnet else []
    return configs + [(f'TRT-ViT-{arch.upper()}',
                       osp.join(ROOT, 'configs', 'trt_vit', f'trt-vit-{arch}_8xb128_in1k.py'))
                      for arch in archs]


def main(argv=None) -> List[dict]:
    args = parse_args(argv)
    if args.out:
        try:
            check_destination(args.out, force=args.force)
        except (FileExistsError, IsADirectoryError) as exc:
            raise SystemExit(f'error: {exc}') from None
    threads = set_num_threads(args.threads)
    resolutions = [parse_resolution(r) for r in args.resolutions]
    resolution_names = [f'{h}x{w}' for h, w in resolutions]
    models = model_configs(args.archs, with_resnet=not args.no_resnet)

    rows = []
    for (height, width), resolution in zip(resolutions, resolution_names):
        # The classifier uses the last stage; detection/segmentation necks all four.
        out_indices = (3, ) if (height, width) == (224, 224) else (0, 1, 2, 3)
        for name, config in models:
            try:
                task = build_task_model(
                    config, part='backbone', shape=(height, width),
                    cfg_options={'model.backbone.out_indices': out_indices})
            except ImportError as exc:  # the ResNet-50 config ships with mmpretrain
                raise SystemExit(f'{name}: {exc} Pass --no-resnet to skip the baseline.')
            model, x = task.module, task.make_inputs(batch=args.batch_size)
            params = count_parameters(model) / 1e6
            for measurement in compare_modes(model, x, args.modes, warmup=args.warmup,
                                             runs=args.repeats, threads=threads,
                                             measure_memory=False):
                ms = measurement.latency.median_ms
                rows.append(dict(model=name, resolution=resolution, mode=measurement.mode,
                                 params_m=round(params, 2), ms=ms,
                                 rel_err=measurement.rel_error))
                print(f'{name:12s} {resolution:>9s} {measurement.mode:12s} {ms:10.2f} ms '
                      f'(max rel. err. vs eager {measurement.rel_error:.1e})', flush=True)
            del task, model

    baseline = {(r['resolution'], r['mode']): r['ms'] for r in rows if r['model'] == 'ResNet-50'}
    print(f'\nbackbones only, batch {args.batch_size}, {threads} threads, median of '
          f'{args.repeats} runs; ratio = latency / ResNet-50 latency (same mode, same size)')
    header = f'{"model":12s} {"params":>8s} {"input":>9s} ' + ' '.join(
        f'{m + " ms":>15s} {"ratio":>6s}' for m in args.modes)
    print(header)
    print('-' * len(header))
    keys = sorted({(r['model'], r['resolution'], r['params_m']) for r in rows},
                  key=lambda k: (resolution_names.index(k[1]), k[0] != 'ResNet-50', k[0]))
    for model_name, resolution, params in keys:
        cells = []
        for mode in args.modes:
            row = next((r for r in rows if (r['model'], r['resolution'], r['mode']) ==
                        (model_name, resolution, mode)), None)
            ref = baseline.get((resolution, mode))
            ms = f'{row["ms"]:15.2f}' if row else f'{"-":>15s}'
            ratio = f'{row["ms"] / ref:6.2f}' if row and ref else f'{"-":>6s}'
            cells.append(f'{ms} {ratio}')
        print(f'{model_name:12s} {params:7.2f}M {resolution:>9s} ' + ' '.join(cells))
    if args.out:
        with atomic_output(args.out) as tmp, open(tmp, 'w') as f:
            json.dump(dict(machine=machine_info(), batch_size=args.batch_size, threads=threads,
                           repeats=args.repeats, rows=rows), f, indent=2)
        print(f'results written to {args.out}')
    return rows


if __name__ == '__main__':
    main()
