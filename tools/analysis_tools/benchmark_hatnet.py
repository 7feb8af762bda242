# Copyright (c) mmhybrid contributors. All rights reserved.
"""Speed and memory benchmarks for TransCNN / HAT-Net (and any H-MHSA model).

``speed``: eager PyTorch vs onnxruntime latency of a backbone, with an output parity check::

    python tools/analysis_tools/benchmark_hatnet.py speed --model hatnet --arch tiny \\
        --shape 224 224 --iters 20

``memory``: peak memory of one training step (forward + backward) of a detector or segmentor
config on synthetic data, with and without gradient checkpointing (``backbone.with_cp``),
reported per image::

    python tools/analysis_tools/benchmark_hatnet.py memory \\
        configs/hatnet/mask-rcnn_hatnet-tiny_fpn_1x_coco.py --shape 800 1333

On CUDA the figure is ``torch.cuda.max_memory_allocated`` during the step minus what was
allocated before it. On CPU, where PyTorch keeps no allocator statistics, each setting runs in a
fresh subprocess and the figure is the rise of the process's peak resident set size
(``ru_maxrss``) over its value just before the step. The CPU figure therefore also counts
allocator caching and library workspaces; compare CPU and CUDA numbers only with that in mind.
Both include the parameter gradients created by the first backward pass.
"""
import argparse
import json
import os
import os.path as osp
import resource
import subprocess
import sys
import tempfile
import time

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))  # a checkout

MODELS = {'transcnn': 'TransCNN', 'hatnet': 'HATNet'}


# --------------------------------------------------------------------------------------- speed
def _time(fn, iters: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    start = time.perf_counter()
    for _ in range(iters):
        fn()
    return (time.perf_counter() - start) / iters * 1e3


def benchmark_speed(args) -> dict:
    import numpy as np
    import onnxruntime as ort

    import mmhybrid.models.backbones.hatnet as hatnet
    model = getattr(hatnet, MODELS[args.model])(args.arch).eval()
    x = torch.randn(args.batch, 3, *args.shape)
    with torch.no_grad():
        eager_out = model(x)
        eager_ms = _time(lambda: model(x), args.iters, args.warmup)

    with tempfile.TemporaryDirectory() as tmp:
        path = osp.join(tmp, 'model.onnx')
        torch.onnx.export(model, (x, ), path, dynamo=False, opset_version=args.opset,
                          input_names=['input'],
                          output_names=[f'stage{i}' for i in range(len(eager_out))])
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])
        feed = {'input': x.numpy()}
        ort_out = session.run(None, feed)
        ort_ms = _time(lambda: session.run(None, feed), args.iters, args.warmup)
    max_diff = max(float(np.abs(o - e.numpy()).max()) for o, e in zip(ort_out, eager_out))
    result = dict(model=f'{args.model}-{args.arch}', shape=list(args.shape), batch=args.batch,
                  threads=torch.get_num_threads(), eager_ms=round(eager_ms, 2),
                  onnxruntime_ms=round(ort_ms, 2), speedup=round(eager_ms / ort_ms, 3),
                  max_abs_diff=max_diff)
    print(json.dumps(result))
    return result


# -------------------------------------------------------------------------------------- memory
def _build_task_model(config: str, with_cp: bool):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import mmhybrid.models  # noqa: F401  (registers and mirrors mmhybrid's classes)
    cfg = Config.fromfile(config)
    scope = cfg.get('default_scope', 'mmdet')
    init_default_scope(scope)
    cfg.model.backbone.init_cfg = None
    cfg.model.backbone.with_cp = with_cp
    if scope == 'mmseg':
        from mmseg.registry import MODELS as registry
        cfg.model.pretrained = None
    else:
        from mmdet.registry import MODELS as registry
    model = registry.build(cfg.model)
    model.init_weights()
    if not torch.cuda.is_available():
        from mmengine.model import revert_sync_batchnorm
        model = revert_sync_batchnorm(model)
    return model, scope


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
    """One forward+backward step in the current process; returns bytes per image."""
    model, scope = _build_task_model(config, with_cp)
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    model.to(device).train()
    data = model.data_preprocessor(_synthetic_batch(scope, batch, tuple(shape)), True)
    if device == 'cuda':
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    else:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    losses = model(**data, mode='loss')
    loss = sum(v.sum() for k, v in losses.items() if 'loss' in k and isinstance(v, torch.Tensor))
    loss = loss + sum(sum(t.sum() for t in v) for k, v in losses.items()
                      if 'loss' in k and isinstance(v, (list, tuple)))
    loss.backward()
    if device == 'cuda':
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - before
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    return dict(with_cp=with_cp, device=device, batch=batch, shape=list(shape),
                step_s=round(time.perf_counter() - start, 2),
                peak_mib_per_image=round(peak / batch / 2**20, 1))


def benchmark_memory(args) -> list:
    results = []
    for with_cp in (False, True):
        if torch.cuda.is_available():
            result = _measure_step(args.config, with_cp, args.batch, args.shape)
        else:  # ru_maxrss is a lifetime peak: isolate each setting in its own process
            command = [sys.executable, osp.abspath(__file__), '_memory-child', args.config,
                       '--batch', str(args.batch), '--shape', *map(str, args.shape)]
            if with_cp:
                command.append('--with-cp')
            output = subprocess.run(command, check=True, capture_output=True, text=True,
                                    env=dict(os.environ)).stdout
            result = json.loads(output.strip().splitlines()[-1])
        result['config'] = osp.basename(args.config)
        print(json.dumps(result))
        results.append(result)
    if len(results) == 2 and results[1]['peak_mib_per_image']:
        ratio = results[0]['peak_mib_per_image'] / results[1]['peak_mib_per_image']
        print(f'with_cp saves {ratio:.2f}x peak training memory per image')
    return results


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


def main(argv=None):
    args = parse_args(argv)
    if args.mode == 'speed':
        return benchmark_speed(args)
    if args.mode == 'memory':
        return benchmark_memory(args)
    print(json.dumps(_measure_step(args.config, args.with_cp, args.batch, args.shape)))


if __name__ == '__main__':
    main()
