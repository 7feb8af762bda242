# Copyright (c) mmhybrid contributors. All rights reserved.
"""Eager vs deploy (conv+BN folded) CPU latency of the TopFormer-T/S/B segmentors.

A fixed-protocol front end to :func:`mmhybrid.deploy.compare_modes` (the engine behind
``tools/analysis_tools/benchmark.py --compare``): each ADE20K segmentor is built from its config
(random weights, randomised BN statistics, no checkpoint), the whole ``EncoderDecoder`` is timed
in tensor mode (logits at stride 8, no up-sampling or argmax) at batch 1, then again after
:func:`mmhybrid.models.utils.switch_to_deploy` has folded every conv+BN pair; the largest relative
output difference of the folded model is printed alongside.

Example::

    python tools/analysis_tools/benchmark_topformer_deploy.py --threads 1
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))  # a checkout

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CONFIGS = [
    'configs/topformer/topformer_t_ade20k.py',
    'configs/topformer/topformer_s_ade20k.py',
    'configs/topformer/topformer_b_ade20k.py',
]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('configs', nargs='*', default=DEFAULT_CONFIGS, help='segmentor configs')
    parser.add_argument('--shape', type=int, nargs=2, default=[512, 512], metavar=('H', 'W'))
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--runs', type=int, default=10)
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    return parser.parse_args(argv)


if __name__ == '__main__':
    parse_args()  # --help and usage errors answer before torch and OpenMMLab are imported

import torch  # noqa: E402

from mmhybrid.deploy import compare_modes  # noqa: E402
from mmhybrid.tasks import build_task_model  # noqa: E402


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    height, width = args.shape
    print(f'input 1x3x{height}x{width}, {torch.get_num_threads()} threads, median of '
          f'{args.runs} runs')
    print(f'{"config":<22} {"params (M)":>10} {"eager (ms)":>11} {"fused (ms)":>11} '
          f'{"speed-up":>9} {"max rel diff":>13}')
    for config in args.configs:
        path = config if osp.exists(config) else osp.join(ROOT, config)
        task_model = build_task_model(path, shape=(height, width))
        params = sum(p.numel() for p in task_model.model.parameters()) / 1e6
        eager, fused = compare_modes(
            task_model.module, task_model.make_inputs(), modes=('eager', 'fused'),
            warmup=args.warmup, runs=args.runs, measure_memory=False)
        eager_ms, fused_ms = eager.latency.median_ms, fused.latency.median_ms
        print(f'{task_model.name:<22} {params:>10.3f} {eager_ms:>11.1f} {fused_ms:>11.1f} '
              f'{eager_ms / fused_ms:>8.2f}x {fused.rel_error:>13.2e}')


if __name__ == '__main__':
    main()
