# Copyright (c) mmhybrid contributors. All rights reserved.
"""Latency of EdgeViT in eager PyTorch, after ``switch_to_deploy`` (fused), and in onnxruntime.

Two workloads, as in the paper's deployment story:

* the ImageNet classifier (``configs/edgevit/edgevit-<arch>_8xb256_in1k.py``) at 224x224;
* the backbone alone (four stride 4-32 outputs, as used by detectors/segmentors) at 512x512.

For each, the fused model and the ONNX model (exported from the fused one, opset 17) are checked
against eager outputs before timing. Example::

    python tools/analysis_tools/benchmark_edgevit.py --arch xxs xs s --threads 1
    python tools/analysis_tools/benchmark_edgevit.py --arch s --device cuda --repeat 200

onnxruntime runs on its CPU provider unless ``--device cuda`` and the CUDA provider is available.
"""
import argparse
import copy
import os.path as osp
import statistics
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)  # run from a checkout
from mmhybrid.models import EdgeViT  # noqa: E402
from mmhybrid.models.utils import switch_to_deploy  # noqa: E402


class TensorClassifier(nn.Module):
    """Plain ``images -> logits`` view of an mmpretrain classifier (traceable for ONNX)."""

    def __init__(self, classifier: nn.Module):
        super().__init__()
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(x, mode='tensor')


def build_classifier(arch: str) -> nn.Module:
    from mmengine.config import Config
    from mmpretrain.registry import MODELS
    from mmpretrain.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'edgevit', f'edgevit-{arch}_8xb256_in1k.py'))
    cfg.model.pop('train_cfg', None)
    model = MODELS.build(cfg.model)
    return TensorClassifier(model)


def randomise_bn_statistics(model: nn.Module) -> None:
    """Non-trivial BN statistics, so that the fused model is really checked."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.8, 1.2)


def flatten(outputs):
    return list(outputs) if isinstance(outputs, (tuple, list)) else [outputs]


@torch.no_grad()
def time_torch(model, x, warmup, repeat, device):
    for _ in range(warmup):
        model(x)
    times = []
    for _ in range(repeat):
        if device == 'cuda':
            torch.cuda.synchronize()
        start = time.perf_counter()
        model(x)
        if device == 'cuda':
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def time_onnxruntime(session, x, warmup, repeat):
    feed = {session.get_inputs()[0].name: x}
    for _ in range(warmup):
        session.run(None, feed)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        session.run(None, feed)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def max_relative_error(got, expected):
    return max(float(np.abs(g - e).max() / (np.abs(e).max() + 1e-12))
               for g, e in zip(got, expected))


def benchmark(name, eager, size, args):
    import onnxruntime as ort
    device = args.device
    x = torch.rand(args.batch, 3, size, size)
    eager = eager.eval().to(device)
    fused = switch_to_deploy(copy.deepcopy(eager))
    x_dev = x.to(device)
    with torch.no_grad():
        reference = [t.cpu().numpy() for t in flatten(eager(x_dev))]
        fused_out = [t.cpu().numpy() for t in flatten(fused(x_dev))]
    rows = [('eager', time_torch(eager, x_dev, args.warmup, args.repeat, device), 0.)]
    rows.append(('fused', time_torch(fused, x_dev, args.warmup, args.repeat, device),
                 max_relative_error(fused_out, reference)))

    with tempfile.TemporaryDirectory() as tmp:
        path = osp.join(tmp, f'{name}.onnx')
        torch.onnx.export(fused.cpu(), (x, ), path, opset_version=17, dynamo=False,
                          input_names=['input'])
        options = ort.SessionOptions()
        if args.threads:
            options.intra_op_num_threads = args.threads
        providers = ['CPUExecutionProvider']
        if device == 'cuda' and 'CUDAExecutionProvider' in ort.get_available_providers():
            providers.insert(0, 'CUDAExecutionProvider')
        session = ort.InferenceSession(path, options, providers=providers)
        onnx_out = session.run(None, {'input': x.numpy()})
        rows.append((f'onnxruntime ({session.get_providers()[0]})',
                     time_onnxruntime(session, x.numpy(), args.warmup, args.repeat),
                     max_relative_error(onnx_out, reference)))

    eager_ms = rows[0][1]
    print(f'\n{name} @ {args.batch}x3x{size}x{size} ({device}, '
          f'{sum(p.numel() for p in eager.parameters()) / 1e6:.2f} M params)')
    print(f'  {"variant":<36}{"median ms":>10}{"speed-up":>10}{"max rel err":>13}')
    for variant, ms, err in rows:
        print(f'  {variant:<36}{ms:>10.2f}{eager_ms / ms:>9.2f}x{err:>13.2e}')
    return rows


def main():
    parser = argparse.ArgumentParser(description='Benchmark EdgeViT eager / fused / onnxruntime')
    parser.add_argument('--arch', nargs='+', default=['xxs'], choices=['xxs', 'xs', 's'])
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--cls-size', type=int, default=224)
    parser.add_argument('--backbone-size', type=int, default=512)
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--repeat', type=int, default=30)
    parser.add_argument('--threads', type=int, default=0,
                        help='torch and onnxruntime intra-op threads (0: library default)')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    for arch in args.arch:
        classifier = build_classifier(arch)
        randomise_bn_statistics(classifier)
        benchmark(f'EdgeViT-{arch.upper()} classifier', classifier, args.cls_size, args)
        backbone = EdgeViT(arch)
        randomise_bn_statistics(backbone)
        benchmark(f'EdgeViT-{arch.upper()} backbone', backbone, args.backbone_size, args)


if __name__ == '__main__':
    main()
