# Copyright (c) mmhybrid contributors. All rights reserved.
"""Eager vs deploy (conv+BN folded) CPU latency of the TopFormer segmentors.

Builds each segmentor from its config (plain BN, no checkpoint), times ``model(x, mode='tensor')``
(logits at stride 8, no up-sampling / argmax) at batch 1, then folds every conv+BN pair with
:func:`mmhybrid.models.utils.switch_to_deploy` and times it again. Also checks that the two agree.

Example::

    python tools/analysis_tools/benchmark_topformer_deploy.py --threads 1
"""
import argparse
import copy
import time
from pathlib import Path
from typing import Callable, List

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch.nn.modules.batchnorm import _BatchNorm

import mmhybrid.models  # noqa: F401  (registers the models)
from mmhybrid.models.utils import switch_to_deploy

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIGS = [
    'configs/topformer/topformer_t_ade20k.py',
    'configs/topformer/topformer_s_ade20k.py',
    'configs/topformer/topformer_b_ade20k.py',
]


def plain_model_cfg(config: str) -> dict:
    """The config's model with SyncBN -> BN and pretrained checkpoints removed."""

    def fix(node):
        if isinstance(node, dict):
            if node.get('type') == 'SyncBN':
                node['type'] = 'BN'
            init_cfg = node.get('init_cfg')
            if isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained':
                node['init_cfg'] = None
            for value in node.values():
                fix(value)
        elif isinstance(node, list):
            for value in node:
                fix(value)
        return node

    return fix(Config.fromfile(config).model.to_dict())


@torch.no_grad()
def randomise_norms(model: torch.nn.Module) -> torch.nn.Module:
    """Non-trivial BN statistics, so that the fused-vs-eager check means something."""
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 1.5)
            module.weight.uniform_(0.5, 1.5)
            module.bias.uniform_(-0.5, 0.5)
    return model


@torch.no_grad()
def median_latency_ms(fn: Callable[[], torch.Tensor], warmup: int, repeats: int) -> float:
    for _ in range(warmup):
        fn()
    times: List[float] = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return sorted(times)[len(times) // 2]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('configs', nargs='*', default=DEFAULT_CONFIGS, help='segmentor configs')
    parser.add_argument('--size', type=int, nargs=2, default=[512, 512], metavar=('H', 'W'))
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    return parser.parse_args()


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    init_default_scope('mmseg')
    from mmseg.registry import MODELS

    torch.manual_seed(0)
    x = torch.rand(1, 3, *args.size)
    print(f'input 1x3x{args.size[0]}x{args.size[1]}, {torch.get_num_threads()} threads, '
          f'median of {args.repeats} runs')
    print(f'{"config":<28} {"params (M)":>10} {"eager (ms)":>11} {"fused (ms)":>11} '
          f'{"speed-up":>9} {"max rel diff":>13}')
    for config in args.configs:
        path = config if Path(config).exists() else str(ROOT / config)
        model = randomise_norms(MODELS.build(plain_model_cfg(path))).eval()
        params = sum(p.numel() for p in model.parameters()) / 1e6
        eager_ms = median_latency_ms(lambda: model(x, mode='tensor'), args.warmup, args.repeats)
        with torch.no_grad():
            reference = model(x, mode='tensor')
        fused_model = switch_to_deploy(copy.deepcopy(model))
        fused_ms = median_latency_ms(lambda: fused_model(x, mode='tensor'), args.warmup,
                                     args.repeats)
        with torch.no_grad():
            diff = ((fused_model(x, mode='tensor') - reference).abs().max() /
                    reference.abs().max()).item()
        print(f'{Path(config).stem:<28} {params:>10.3f} {eager_ms:>11.1f} {fused_ms:>11.1f} '
              f'{eager_ms / fused_ms:>8.2f}x {diff:>13.2e}')


if __name__ == '__main__':
    main()
