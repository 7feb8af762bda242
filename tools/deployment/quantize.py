# Copyright (c) mmhybrid contributors. All rights reserved.
"""INT8 post-training quantization of a classifier or segmentor config with ONNX Runtime.

Exports the model (conv+BN folded, parity-checked against PyTorch, dynamic input size),
calibrates on ``--num-calib`` images of ``--calib-split`` run through the config's test
pipeline and the model's data preprocessor, quantizes statically (QDQ, per-channel int8
weights; what stays float: :mod:`mmhybrid.deploy.quantize`), then prints in one table

* fp32 and int8 onnxruntime median latency at ``--shape`` (default: the config's eval size),
  measured in this run, same thread count, same input, interleaved rounds; and their ratio,
* the accuracy of both files on ``--eval-split`` with the config's own evaluator and
  post-processing (mIoU for segmentors, top-1 for classifiers) and the difference.

Calibration and evaluation images come from different splits by default (train / val); a note
is printed when they are the same split. The int8 file is written atomically: on a failure
(``FAILED: ...``, exit status 1) nothing is left at OUT. An existing OUT is refused unless
``--force``. Whatever ``--force`` says, OUT, ``--fp32-out`` and ``--json`` must be three
different files, none of them the checkpoint or the config (also through a link or another
spelling of the path), and none inside, equal to or containing a dataset folder of the config
(``error: ...`` naming the argument and the input, exit status 1, before any work). Detectors are
out of scope (their heads end in NMS, which is not exported). Examples::

    python tools/deployment/quantize.py configs/topformer/topformer_t_ade20k.py \\
        --checkpoint topformer-t.pth --calib-split train --num-calib 32 --shape 512 512 \\
        --threads 2 topformer-t_int8.onnx
    python tools/deployment/quantize.py configs/trt_vit/trt-vit-a_8xb128_in1k.py \\
        --checkpoint trt-vit-a.pth --num-calib 64 --json trt-vit-a_int8.json trt-vit-a_int8.onnx
"""
import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))  # a checkout
sys.path.append(osp.dirname(osp.dirname(osp.abspath(__file__))))  # tools/_light_cli.py
from _light_cli import QUANTIZE_OP_TYPES, SPLITS, ConfigOptionsAction  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='classifier or segmentor config file')
    parser.add_argument('out', help='output int8 .onnx file')
    parser.add_argument('--checkpoint', help='weights (default: random init, which makes the '
                        'accuracy figures meaningless)')
    parser.add_argument('--data-root', metavar='DIR',
                        help='read the calibration and evaluation images from DIR (every '
                        'dataset of the config, as tools/train.py --data-root)')
    parser.add_argument('--calib-split', choices=SPLITS, default='train',
                        help='dataset split the calibration images come from')
    parser.add_argument('--num-calib', type=int, default=32,
                        help='calibration images (spread evenly over the split)')
    parser.add_argument('--eval-split', choices=SPLITS, default='val',
                        help='dataset split both files are scored on')
    parser.add_argument('--num-eval', type=int, default=None,
                        help='score only this many images (default: all)')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='latency input size (default: the config\'s eval size)')
    parser.add_argument('--threads', type=int, default=None,
                        help='intra-op threads of both sessions (default: torch\'s count)')
    parser.add_argument('--runs', type=int, default=30, help='timed runs per file')
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--op-types', nargs='+', default=list(QUANTIZE_OP_TYPES),
                        help='operator types to quantize (Softmax/LayerNormalization always '
                        'stay float)')
    parser.add_argument('--exclude-nodes', nargs='+', default=[],
                        help='ONNX node names kept in float')
    parser.add_argument('--calibrate-method', choices=['minmax', 'percentile', 'entropy'],
                        default='minmax')
    parser.add_argument('--activation-type', choices=['uint8', 'int8'], default='uint8')
    parser.add_argument('--profile', action='store_true',
                        help='also print ORT\'s per-operator time of both files')
    parser.add_argument('--fp32-out', help='also keep the fp32 export here')
    parser.add_argument('--json', help='write every number to this JSON file')
    parser.add_argument('--no-progress', action='store_true',
                        help='no progress bars (calibration, scoring; shown only on a terminal)')
    parser.add_argument('--force', action='store_true',
                        help='replace an existing OUT (never an input: the config, the '
                        'checkpoint or a dataset file)')
    parser.add_argument('--cfg-options', nargs='+', action=ConfigOptionsAction)
    return parser.parse_args(argv)


if __name__ == '__main__':
    parse_args()  # --help and usage errors answer before torch and OpenMMLab are imported

from mmhybrid.analysis.latency import machine_info, set_num_threads  # noqa: E402
from mmhybrid.apis.short_run import follow_data_root  # noqa: E402
from mmhybrid.deploy.data import (  # noqa: E402
    QuantizeError,
    check_quantize_config,
    check_quantize_outputs,
)
from mmhybrid.deploy.export import OnnxParityError  # noqa: E402
from mmhybrid.deploy.quantize import QuantizeSettings  # noqa: E402
from mmhybrid.deploy.quantize_pipeline import format_profile, quantize_config  # noqa: E402
from mmhybrid.engine.console import quiet_library_noise  # noqa: E402
from mmhybrid.tasks import load_config  # noqa: E402
from mmhybrid.utils.fileio import atomic_output, check_destination  # noqa: E402


def main(argv=None):
    args = parse_args(argv)
    quiet_library_noise()  # the config's evaluator is built without a runner
    sources = [args.checkpoint] if args.checkpoint else []
    try:
        cfg = load_config(args.config, args.cfg_options)
        if args.data_root:
            changes = follow_data_root(cfg, args.data_root)
            if changes:
                print(f'--data-root: {"; ".join(changes)}', flush=True)
        check_quantize_outputs(cfg, args.out, config=args.config, checkpoint=args.checkpoint,
                               fp32_out=args.fp32_out, json_out=args.json)
        for dst in filter(None, (args.out, args.fp32_out, args.json)):
            check_destination(dst, sources=sources, force=args.force)
        if args.checkpoint and not osp.isfile(args.checkpoint):
            raise QuantizeError(f'--checkpoint {args.checkpoint!r} does not exist.')
        if args.num_calib < 1:
            raise QuantizeError(f'--num-calib must be >= 1, got {args.num_calib}.')
        check_quantize_config(cfg, (args.calib_split, args.eval_split))
    except (FileExistsError, IsADirectoryError, ValueError, FileNotFoundError,
            QuantizeError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    if args.calib_split == args.eval_split:
        print(f'note: calibration and evaluation both use the {args.eval_split} split; the '
              'int8 accuracy is then measured on images it was calibrated on.')
    threads = set_num_threads(args.threads)
    settings = QuantizeSettings(
        op_types=tuple(args.op_types), nodes_to_exclude=tuple(args.exclude_nodes),
        calibrate_method=args.calibrate_method, activation_type=args.activation_type)
    try:
        result = quantize_config(  # cfg: the --cfg-options and --data-root are applied
            cfg, args.out, checkpoint=args.checkpoint, calib_split=args.calib_split,
            num_calib=args.num_calib, eval_split=args.eval_split, num_eval=args.num_eval,
            shape=args.shape, threads=threads, runs=args.runs, warmup=args.warmup,
            settings=settings, fp32_out=args.fp32_out,
            profile=args.profile, progress=not args.no_progress)
    except (QuantizeError, OnnxParityError, RuntimeError, OSError) as exc:
        print(f'FAILED: {type(exc).__name__}: {exc} Nothing was written to {args.out}.',
              file=sys.stderr)
        return 1
    print(result.table())
    print(f'QDQ: {result.qdq["quantize_linear"]} QuantizeLinear, '
          f'{result.qdq["dequantize_linear"]} DequantizeLinear, '
          f'{result.qdq["per_channel_weights"]} per-channel weights; '
          f'pre-processing: {result.preprocessing}')
    if args.profile:
        print(format_profile(result.profiles))
    if args.json:
        data = dict(result.to_dict(), machine=machine_info())
        with atomic_output(args.json) as tmp, open(tmp, 'w') as f:
            json.dump(data, f, indent=2)
    extra = ''.join(f', {label} {path}' for label, path in (('fp32:', args.fp32_out),
                                                           ('numbers:', args.json)) if path)
    print(f'saved {args.out}{extra}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
