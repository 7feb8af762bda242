# Copyright (c) mmhybrid contributors. All rights reserved.
"""Speed and memory benchmarks for TransCNN / HAT-Net (and any H-MHSA model).

``speed``: eager PyTorch vs onnxruntime latency of a backbone (exported after
``switch_to_deploy``, opset 17), with an output parity check::

    python tools/analysis_tools/benchmark_hatnet.py speed --model hatnet --arch tiny \\
        --shape 224 224 --iters 20

``memory``: peak memory of one training step (forward + backward) of a detector or segmentor
config on synthetic data, with and without gradient checkpointing (``backbone.with_cp``),
reported per image::

    python tools/analysis_tools/benchmark_hatnet.py memory \\
        configs/hatnet/mask-rcnn_hatnet-tiny_fpn_1x_coco.py --shape 800 1333

On CUDA the figure is ``torch.cuda.max_memory_allocated`` during the step minus what was
allocated before it. On CPU, where PyTorch keeps no allocator statistics, it is the peak rise of
the process's resident set size during the step (:class:`mmhybrid.analysis.PeakRSSSampler`),
and each setting runs in a fresh subprocess so that memory the allocator kept from the other
setting cannot hide in the baseline. The CPU figure therefore also counts allocator caching and
library workspaces; compare CPU and CUDA numbers only with that in mind. Both include the
parameter gradients created by the first backward pass.

Models are built with :func:`mmhybrid.tasks.build_task_model` (no pretrained weights, SyncBN
as BN) and timed with :func:`mmhybrid.deploy.compare_modes` (medians; outputs checked against
eager as ``max |diff| / max |eager|``).
"""
import argparse
import json
import os.path as osp
import subprocess
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))  # a checkout

MODELS = {'transcnn': 'TransCNN', 'hatnet': 'HATNet'}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='mode', required=True)

    speed = sub.add_parser('speed', help='eager vs onnxruntime latency of a backbone')
    speed.add_argument('--model', choices=sorted(MODELS), default='hatnet')
    speed.add_argument('--arch', default='tiny')
    speed.add_argument('--shape', type=int, nargs=2, default=[224, 224], metavar=('H', 'W'))
    speed.add_argument('--batch', type=int, default=1)
    speed.add_argument('--iters', type=int, default=20)
    speed.add_argument('--warmup', type=int, default=3)
    speed.add_argument('--opset', type=int, default=17)

    for name in ('memory', '_memory-child'):
        memory = sub.add_parser(name, help='peak training memory per image, with/without '
                                'with_cp' if name == 'memory' else argparse.SUPPRESS)
        memory.add_argument('config', help='an mmdet or mmseg config with an mmhybrid backbone')
        memory.add_argument('--shape', type=int, nargs=2, default=[800, 1333],
                            metavar=('H', 'W'))
        memory.add_argument('--batch', type=int, default=1)
        if name == '_memory-child':
            memory.add_argument('--with-cp', action='store_true')
    return parser.parse_args(argv)


if __name__ == '__main__':
    parse_args()  # --help and usage errors answer before torch and OpenMMLab are imported

import torch  # noqa: E402

from mmhybrid.analysis import PeakRSSSampler  # noqa: E402
from mmhybrid.deploy import compare_modes  # noqa: E402
from mmhybrid.tasks import build_task_model, randomise_bn_statistics  # noqa: E402


# --------------------------------------------------------------------------------------- speed
def benchmark_speed(args) -> dict:
    import mmhybrid.models.backbones.hatnet as hatnet
    model = randomise_bn_statistics(getattr(hatnet, MODELS[args.model])(args.arch))
    x = torch.randn(args.batch, 3, *args.shape)
    eager, ort = compare_modes(model, x, modes=('eager', 'onnxruntime'), warmup=args.warmup,
                               runs=args.iters, opset=args.opset, measure_memory=False)
    result = dict(model=f'{args.model}-{args.arch}', shape=list(args.shape), batch=args.batch,
                  threads=torch.get_num_threads(), eager_ms=round(eager.latency.median_ms, 2),
                  onnxruntime_ms=round(ort.latency.median_ms, 2),
                  speedup=round(eager.latency.median_ms / ort.latency.median_ms, 3),
                  max_rel_error=ort.rel_error)
    print(json.dumps(result))
    return result


# -------------------------------------------------------------------------------------- memory
def _synthetic_batch(scope: str, batch: int, shape, num_classes: int = 80):
    if scope == 'mmseg':
        from mmengine.structures import PixelData
        from mmseg.structures import SegDataSample
        inputs, samples = [], []
        for _ in range(batch):
            inputs.append(torch.randint(0, 256, (3, *shape), dtype=torch.uint8))
            sample = SegDataSample(metainfo=dict(img_shape=shape, ori_shape=shape,
                                                 pad_shape=shape))
            sample.gt_sem_seg = PixelData(data=torch.randint(0, 150, (1, *shape)))
            samples.append(sample)
        return dict(inputs=inputs, data_samples=samples)
    from mmdet.testing import demo_mm_inputs
    return demo_mm_inputs(batch, [(3, *shape)] * batch, num_items=[8] * batch,
                          num_classes=num_classes, with_mask=True)


def _measure_step(config: str, with_cp: bool, batch: int, shape) -> dict:
    """One forward+backward step in the current process; returns the peak memory per image."""
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    task = build_task_model(config, device=device,
                            cfg_options={'model.backbone.with_cp': with_cp})
    model = task.model.train()
    data = model.data_preprocessor(_synthetic_batch(task.scope, batch, tuple(shape)), True)

    def step():
        loss, _ = model.parse_losses(model(**data, mode='loss'))
        loss.backward()

    start = time.perf_counter()
    if device == 'cuda':
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step()
        torch.cuda.synchronize()
        peak, memory_kind = torch.cuda.max_memory_allocated() - before, 'cuda max allocated'
    else:
        with PeakRSSSampler() as sampler:
            step()
        peak, memory_kind = sampler.peak_delta, sampler.kind
    return dict(with_cp=with_cp, device=device, batch=batch, shape=list(shape),
                step_s=round(time.perf_counter() - start, 2),
                peak_mib_per_image=round(peak / batch / 2**20, 1), memory_kind=memory_kind)


def benchmark_memory(args) -> list:
    results = []
    for with_cp in (False, True):
        if torch.cuda.is_available():
            result = _measure_step(args.config, with_cp, args.batch, args.shape)
        else:  # a fresh process per setting: no memory cached by the other one
            command = [sys.executable, osp.abspath(__file__), '_memory-child', args.config,
                       '--batch', str(args.batch), '--shape', *map(str, args.shape)]
            if with_cp:
                command.append('--with-cp')
            output = subprocess.run(command, check=True, capture_output=True,
                                    text=True).stdout
            result = json.loads(output.strip().splitlines()[-1])
        result['config'] = osp.basename(args.config)
        print(json.dumps(result))
        results.append(result)
    if len(results) == 2 and results[1]['peak_mib_per_image']:
        ratio = results[0]['peak_mib_per_image'] / results[1]['peak_mib_per_image']
        print(f'with_cp saves {ratio:.2f}x peak training memory per image')
    return results


def main(argv=None):
    args = parse_args(argv)
    if args.mode == 'speed':
        return benchmark_speed(args)
    if args.mode == 'memory':
        return benchmark_memory(args)
    print(json.dumps(_measure_step(args.config, args.with_cp, args.batch, args.shape)))


if __name__ == '__main__':
    main()
