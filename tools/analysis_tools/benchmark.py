# Copyright (c) mmhybrid contributors. All rights reserved.
"""Inference latency, throughput and peak memory of any cls / det / seg config.

Measures the module described in :mod:`mmhybrid.tasks.task_model` (classifier logits,
segmentor ``EncoderDecoder`` in tensor mode, detector backbone + neck; ``--part backbone`` for
the backbone alone) on random inputs: ``--warmup`` untimed runs, then ``--runs`` timed runs;
reports the median, the spread (IQR, min, max), images/s, peak memory and the thread count
(protocol and memory definitions: :mod:`mmhybrid.analysis.latency`). Examples::

    python tools/analysis_tools/benchmark.py configs/edgevit/edgevit-xxs_8xb256_in1k.py
    python tools/analysis_tools/benchmark.py configs/topformer/topformer_t_ade20k.py \\
        --shape 512 512 --deploy --backend onnxruntime --threads 4
    python tools/analysis_tools/benchmark.py configs/hatnet/hatnet-tiny_8xb128_in1k.py \\
        --compare --out work_dirs/hatnet-tiny-latency.json
    python tools/analysis_tools/benchmark.py configs/topformer/topformer_t_ade20k.py \\
        --shape 512 512 --deploy --compile reduce-overhead --device cuda

``--backend onnxruntime`` exports the (``--deploy``: folded) model to a temporary ONNX file,
checks it against PyTorch (1e-4 relative) and times onnxruntime with the same thread count;
``--backend onnxruntime-int8`` times the folded model quantized to int8 (its relative error
against eager is reported; accuracy on data: ``tools/deployment/quantize.py``).
``--compile [MODE]`` times the model compiled with ``torch.compile`` (MODE: default,
reduce-overhead (CUDA graphs), max-autotune) and reports the compile time (the first call) and
the relative error against eager. ``--compare`` times eager, fused and onnxruntime (and compiled
with ``--compile``) in one go and prints ratios. ``--out`` is
written atomically and an existing file is only replaced with ``--force`` (checked before the
measurements start).
"""
import argparse
import json
import os
import os.path as osp
import sys
import tempfile

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))  # a checkout
sys.path.append(osp.dirname(osp.dirname(osp.abspath(__file__))))  # tools/_light_cli.py
from _light_cli import COMPILE_MODES, ConfigOptionsAction  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help="config file, or e.g. 'mmpretrain::resnet/xxx.py'")
    parser.add_argument('--checkpoint', help='weights (default: random init; latency does not '
                        'depend on the values)')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='input size; default: the size the config evaluates at')
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--part', choices=['model', 'backbone'], default='model')
    parser.add_argument('--deploy', action='store_true',
                        help='fold conv+BN / re-parameterise (switch_to_deploy) first')
    parser.add_argument('--backend', choices=['torch', 'onnxruntime', 'onnxruntime-int8'],
                        default='torch', help='onnxruntime-int8: the (folded) model quantized '
                        '(QDQ, per-channel) by mmhybrid.deploy.quantize, calibrated on '
                        'random inputs; accuracy: tools/deployment/quantize.py')
    parser.add_argument('--compile', nargs='?', const='default', choices=COMPILE_MODES,
                        metavar='MODE', help='torch.compile the (--deploy: folded) model with '
                        'this mode (default: %(const)s) and time it; with --compare, add it')
    parser.add_argument('--compare', action='store_true',
                        help='time eager, fused and onnxruntime (ignores --deploy/--backend)')
    parser.add_argument('--warmup', type=int, default=5, help='untimed runs')
    parser.add_argument('--runs', type=int, default=30, help='timed runs')
    parser.add_argument('--threads', type=int, default=None,
                        help='intra-op threads for torch and onnxruntime (default: torch\'s)')
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    parser.add_argument('--out', help='also write the results as JSON to this file')
    parser.add_argument('--force', action='store_true', help='replace an existing --out file')
    parser.add_argument('--no-progress', action='store_true',
                        help='no progress bar (--compare: one step per mode; shown only on a '
                        'terminal)')
    parser.add_argument('--cfg-options', nargs='+', action=ConfigOptionsAction)
    return parser.parse_args(argv)


if __name__ == '__main__':
    parse_args()  # --help and usage errors answer before torch and OpenMMLab are imported

import torch  # noqa: E402

from mmhybrid.analysis import (  # noqa: E402
    benchmark_onnxruntime,
    benchmark_torch,
    machine_info,
    make_ort_session,
    set_num_threads,
)
from mmhybrid.deploy import (  # noqa: E402
    compare_modes,
    compile_for_inference,
    export_and_check,
    flatten_outputs,
    relative_error,
)
from mmhybrid.tasks import build_task_model  # noqa: E402
from mmhybrid.utils.fileio import atomic_output, check_destination, check_outputs  # noqa: E402


def run_benchmark(args) -> dict:
    threads = set_num_threads(args.threads)
    task = build_task_model(args.config, checkpoint=args.checkpoint, part=args.part,
                            device=args.device, shape=args.shape, deploy=args.deploy and
                            not args.compare, cfg_options=args.cfg_options)
    x = task.make_inputs(batch=args.batch)
    info = dict(config=args.config, scope=task.scope, part=args.part,
                input_shape=list(x.shape), machine=machine_info(), threads=threads)
    if args.compare:
        modes = ('eager', 'fused', 'compiled', 'onnxruntime') if args.compile else (
            'eager', 'fused', 'onnxruntime')
        rows = compare_modes(task.module, x, modes=modes, warmup=args.warmup, runs=args.runs,
                             threads=threads, compile_mode=args.compile,
                             progress=not args.no_progress)
        info['results'] = [row.to_dict() for row in rows]
        return info
    if args.compile:
        with torch.inference_mode():
            reference = [t.cpu().numpy() for t in flatten_outputs(task.module(x))]
        compiled, compile_s, outputs = compile_for_inference(task.module, x, mode=args.compile)
        error = max(relative_error([t.cpu().numpy() for t in outputs], reference))
        result = benchmark_torch(compiled, x, args.warmup, args.runs,
                                 backend=f'torch compiled ({args.compile})')
        info['results'] = [dict(mode=f'compiled {args.compile}', rel_error=error,
                                compile_s=compile_s, **result.to_dict())]
        return info
    if args.backend == 'torch':
        result = benchmark_torch(task.module, x, args.warmup, args.runs,
                                 backend='torch fused' if args.deploy else 'torch eager')
        info['results'] = [dict(mode=result.backend, rel_error=0., **result.to_dict())]
        return info
    if args.backend == 'onnxruntime-int8':
        (row, ) = compare_modes(task.module, x, modes=('onnxruntime-int8', ),
                                warmup=args.warmup, runs=args.runs, threads=threads)
        info['results'] = [row.to_dict()]
        return info
    with tempfile.TemporaryDirectory() as tmp:
        path = osp.join(tmp, 'model.onnx')
        parity = export_and_check(task.module, x.cpu(), path)
        session = make_ort_session(path, threads=threads, device=args.device)
        result = benchmark_onnxruntime(session, x.cpu().numpy(), args.warmup, args.runs)
        del session
        os.remove(path)
    info['results'] = [dict(mode='onnxruntime', rel_error=parity.max_error, **result.to_dict())]
    return info


def format_results(info: dict) -> str:
    machine = info['machine']
    lines = [
        f'{info["config"]} ({info["scope"]}, {info["part"]}), input {info["input_shape"]}',
        f'{machine["cpu"]}, {info["threads"]} threads, torch {machine["torch"]}, '
        f'{machine["date"]}',
        f'{"mode":<22}{"median ms":>10}{"IQR":>8}{"min":>9}{"max":>9}{"img/s":>9}'
        f'{"peak MiB":>10}{"rel err":>10}{"vs first":>9}',
    ]
    first = info['results'][0]['median_ms']
    for row in info['results']:
        memory = '-' if row['peak_memory_mib'] is None else f'{row["peak_memory_mib"]:.1f}'
        lines.append(
            f'{row["mode"]:<22}{row["median_ms"]:>10.2f}{row["iqr_ms"]:>8.2f}'
            f'{row["min_ms"]:>9.2f}{row["max_ms"]:>9.2f}{row["images_per_s"]:>9.1f}'
            f'{memory:>10}{row["rel_error"]:>10.1e}{first / row["median_ms"]:>8.2f}x')
    row = info['results'][0]
    lines.append(f'{row["runs"]} timed runs after {row["warmup"]} warm-up; peak memory: '
                 f'{row["memory_kind"]} (see mmhybrid/analysis/latency.py)')
    for row in info['results']:
        if row.get('compile_s') is not None:
            lines.append(f'{row["mode"]}: compiling (the first call) took '
                         f'{row["compile_s"]:.1f} s')
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    if args.compile and args.backend != 'torch' and not args.compare:
        raise SystemExit(f'--compile times PyTorch; it cannot be combined with --backend '
                         f'{args.backend}.')
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        raise SystemExit('--device cuda: CUDA is not available on this machine.')
    if args.out:
        try:
            check_outputs([('--out', args.out)], [('the config', args.config),
                                                  ('--checkpoint', args.checkpoint)])
            check_destination(args.out, force=args.force)
        except (FileExistsError, IsADirectoryError, ValueError) as exc:
            raise SystemExit(f'error: {exc}') from None
    info = run_benchmark(args)
    print(format_results(info))
    if args.out:
        with atomic_output(args.out) as tmp, open(tmp, 'w') as f:
            json.dump(info, f, indent=2)
        print(f'results written to {args.out}')
    return info


if __name__ == '__main__':
    main()
