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
TensorRT on a GPU, which is what the paper measured.
"""
import argparse
import json
import os
import os.path as osp
import statistics
import tempfile
import time
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from mmhybrid.models.backbones.trt_vit import TRTViT
from mmhybrid.models.utils import switch_to_deploy

DEFAULT_RESOLUTIONS = ('224x224', '800x1333', '512x512')
MODES = ('eager', 'fused', 'onnxruntime')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--archs', nargs='+', default=['a', 'b', 'c', 'd'],
                        choices=sorted(TRTViT.arch_settings), help='TRT-ViT variants to time')
    parser.add_argument('--resolutions', nargs='+', default=list(DEFAULT_RESOLUTIONS),
                        help='HxW input sizes; 224x224 times the classifier (last stage only), '
                        'any other size the four-stage detection/segmentation backbone')
    parser.add_argument('--modes', nargs='+', default=list(MODES), choices=MODES)
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--warmup', type=int, default=3, help='untimed runs per measurement')
    parser.add_argument('--repeats', type=int, default=10, help='timed runs (median reported)')
    parser.add_argument('--threads', type=int, default=None,
                        help='intra-op threads for torch and ONNX Runtime (default: torch\'s)')
    parser.add_argument('--no-resnet', action='store_true', help='skip the ResNet-50 baseline')
    parser.add_argument('--out', help='also write the results to this JSON file')
    return parser.parse_args()


def parse_resolution(text: str) -> Tuple[int, int]:
    try:
        height, width = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'resolution must look like 224x224, got {text!r}')
    return height, width


def build_resnet50(out_indices: Sequence[int]) -> nn.Module:
    try:
        from mmpretrain.models import ResNet
    except ImportError as exc:
        raise SystemExit(f'ResNet-50 baseline needs mmpretrain ({exc}); pass --no-resnet.')
    return ResNet(depth=50, out_indices=tuple(out_indices))


def _randomise_bn(model: nn.Module) -> None:
    """Random-init BNs have identity statistics; give them real ones so folding is exercised."""
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            n = module.num_features
            module.running_mean.copy_(torch.rand(n, generator=generator) * 0.2 - 0.1)
            module.running_var.copy_(torch.rand(n, generator=generator) * 0.5 + 0.75)


def time_callable(fn: Callable[[], object], warmup: int, repeats: int) -> float:
    """Median wall time of ``fn`` in milliseconds."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples)


def _max_rel_error(outputs: Sequence[np.ndarray], references: Sequence[np.ndarray]) -> float:
    return max(
        float(np.abs(out - ref).max()) / max(float(np.abs(ref).max()), 1e-12)
        for out, ref in zip(outputs, references))


def benchmark_model(model: nn.Module, x: torch.Tensor, modes: Sequence[str], args,
                    workdir: str, name: str) -> Dict[str, Dict[str, float]]:
    """Time ``model`` on ``x`` in every mode; returns ``{mode: {'ms': .., 'rel_err': ..}}``."""
    _randomise_bn(model)
    model.eval()
    results = {}
    with torch.inference_mode():
        reference = [o.numpy().copy() for o in model(x)]
        if 'eager' in modes:
            results['eager'] = dict(
                ms=time_callable(lambda: model(x), args.warmup, args.repeats), rel_err=0.)
        switch_to_deploy(model)
        fused_out = [o.numpy() for o in model(x)]
        if 'fused' in modes:
            results['fused'] = dict(
                ms=time_callable(lambda: model(x), args.warmup, args.repeats),
                rel_err=_max_rel_error(fused_out, reference))
    if 'onnxruntime' in modes:
        import onnxruntime as ort
        path = osp.join(workdir, f'{name}.onnx')
        with torch.no_grad():
            torch.onnx.export(model, (x, ), path, opset_version=17, dynamo=False,
                              input_names=['input'])
        options = ort.SessionOptions()
        if args.threads:
            options.intra_op_num_threads = args.threads
        session = ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])
        feed = {'input': x.numpy()}
        ort_out = session.run(None, feed)
        results['onnxruntime'] = dict(
            ms=time_callable(lambda: session.run(None, feed), args.warmup, args.repeats),
            rel_err=_max_rel_error(ort_out, reference))
        os.remove(path)
    return results


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    resolutions = [parse_resolution(r) for r in args.resolutions]
    resolution_names = [f'{h}x{w}' for h, w in resolutions]
    models: List[Tuple[str, Callable[[Sequence[int]], nn.Module], int]] = []
    if not args.no_resnet:
        models.append(('ResNet-50', build_resnet50, None))
    for arch in args.archs:
        models.append((f'TRT-ViT-{arch.upper()}',
                       lambda idx, arch=arch: TRTViT(arch=arch, out_indices=idx), arch))

    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for height, width in resolutions:
            classifier = (height, width) == (224, 224)
            out_indices = (3, ) if classifier else (0, 1, 2, 3)
            x = torch.rand(args.batch_size, 3, height, width)
            for name, build, _ in models:
                model = build(out_indices)
                params = sum(p.numel() for p in model.parameters()) / 1e6
                result = benchmark_model(model, x, args.modes, args, workdir,
                                         f'{name}_{height}x{width}')
                for mode, values in result.items():
                    rows.append(dict(model=name, resolution=f'{height}x{width}', mode=mode,
                                     params_m=round(params, 2), **values))
                    print(f'{name:12s} {height}x{width:<5d} {mode:12s} {values["ms"]:9.2f} ms '
                          f'(max rel. err. vs eager {values["rel_err"]:.1e})', flush=True)
                del model

    baseline = {(r['resolution'], r['mode']): r['ms'] for r in rows if r['model'] == 'ResNet-50'}
    print(f'\nbatch {args.batch_size}, {torch.get_num_threads()} threads, median of '
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
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(dict(batch_size=args.batch_size, threads=torch.get_num_threads(),
                           repeats=args.repeats, rows=rows), f, indent=2)
        print(f'results written to {args.out}')


if __name__ == '__main__':
    main()
