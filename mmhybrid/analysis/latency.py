# Copyright (c) mmhybrid contributors. All rights reserved.
"""Latency, throughput and peak memory of a model, in PyTorch or onnxruntime.

Protocol (:func:`measure_latency`): ``warmup`` untimed calls, then ``runs`` timed calls, each
timed alone with ``time.perf_counter`` (CUDA is synchronised before and after each call). The
result keeps every sample; it reports the median (the headline figure: robust to the odd
preempted run on a shared machine), the spread as the inter-quartile range and min/max, and
images/s = batch / median.

Peak memory is measured during the warm-up calls only, so that the measurement cannot perturb
the timed runs:

* **CUDA**: ``torch.cuda.max_memory_allocated()`` after resetting the peak statistics, i.e.
  the peak of tensors allocated by PyTorch, *including* the weights and inputs already on the
  device (the convention of mmdet's benchmark). onnxruntime's CUDA arena is not visible to it.
* **CPU**: the rise of the process's resident set size (RSS) above its value just before the
  first warm-up call, sampled every millisecond from ``/proc/self/statm`` by a helper thread.
  Weights and inputs are already resident and therefore *excluded*; activations, workspaces and
  memory the allocator keeps cached are included. Where ``/proc`` is missing the figure is the
  rise of ``ru_maxrss`` (the lifetime peak), which is 0 if the process had already peaked
  higher, e.g. in an earlier, bigger model; run one model per process for clean CPU figures.

The thread count used by PyTorch (``torch.get_num_threads()``) or onnxruntime
(``intra_op_num_threads``) is recorded with every result; set it with :func:`set_num_threads`.
"""
import os
import platform
import resource
import statistics
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn

__all__ = [
    'LatencyResult', 'measure_latency', 'benchmark_torch', 'benchmark_onnxruntime',
    'make_ort_session', 'set_num_threads', 'machine_info', 'PeakRSSSampler'
]


@dataclass
class LatencyResult:
    """Timings of one model in one backend.

    Attributes:
        times_ms: every timed run, in milliseconds, in order.
        batch: images per call.
        backend: ``'torch'``, ``'torch (fused)'``, ``'onnxruntime'``...
        device: ``'cpu'`` or ``'cuda'``.
        threads: intra-op threads of the backend.
        warmup: untimed calls before timing.
        peak_memory_mib: see the module docstring; ``None`` if not measured.
        memory_kind: what ``peak_memory_mib`` is (``'cuda max allocated'``,
            ``'cpu peak rss delta'``, ``'cpu ru_maxrss delta'``).
        input_shape: the input's shape.
    """
    times_ms: List[float]
    batch: int = 1
    backend: str = 'torch'
    device: str = 'cpu'
    threads: int = 1
    warmup: int = 0
    peak_memory_mib: Optional[float] = None
    memory_kind: str = ''
    input_shape: Sequence[int] = field(default_factory=tuple)

    @property
    def runs(self) -> int:
        return len(self.times_ms)

    @property
    def median_ms(self) -> float:
        return float(statistics.median(self.times_ms))

    @property
    def mean_ms(self) -> float:
        return float(statistics.fmean(self.times_ms))

    @property
    def stdev_ms(self) -> float:
        return float(statistics.stdev(self.times_ms)) if self.runs > 1 else 0.

    @property
    def min_ms(self) -> float:
        return float(min(self.times_ms))

    @property
    def max_ms(self) -> float:
        return float(max(self.times_ms))

    @property
    def iqr_ms(self) -> float:
        """Inter-quartile range (p75 - p25) of the timed runs."""
        q25, q75 = np.percentile(self.times_ms, [25, 75])
        return float(q75 - q25)

    @property
    def images_per_s(self) -> float:
        return self.batch * 1e3 / self.median_ms

    def summary(self) -> str:
        memory = '' if self.peak_memory_mib is None else \
            f', peak mem {self.peak_memory_mib:.1f} MiB ({self.memory_kind})'
        return (f'{self.backend}: median {self.median_ms:.2f} ms (IQR {self.iqr_ms:.2f}, '
                f'min {self.min_ms:.2f}, max {self.max_ms:.2f}; {self.runs} runs after '
                f'{self.warmup} warm-up), {self.images_per_s:.1f} img/s, batch {self.batch}, '
                f'{self.threads} threads, {self.device}{memory}')

    def to_dict(self) -> Dict[str, Any]:
        data = asdict(self)
        data['input_shape'] = list(self.input_shape)
        data.update(median_ms=self.median_ms, mean_ms=self.mean_ms, stdev_ms=self.stdev_ms,
                    iqr_ms=self.iqr_ms, min_ms=self.min_ms, max_ms=self.max_ms,
                    images_per_s=self.images_per_s, runs=self.runs)
        return data


def _rss_bytes() -> Optional[int]:
    try:
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
    except (OSError, ValueError, IndexError):
        return None


class PeakRSSSampler:
    """Context manager: peak RSS rise (bytes) of this process while the block runs.

    Samples ``/proc/self/statm`` every ``interval`` seconds in a daemon thread; falls back to
    the rise of ``ru_maxrss`` where ``/proc`` is unavailable (see the module docstring).
    """

    def __init__(self, interval: float = 1e-3):
        self.interval = interval
        self.kind = 'cpu peak rss delta' if _rss_bytes() is not None else 'cpu ru_maxrss delta'
        self.peak_delta = 0

    def _sample(self):
        while not self._stop.is_set():
            self._peak = max(self._peak, _rss_bytes() or 0)
            self._stop.wait(self.interval)

    def __enter__(self):
        self._stop = threading.Event()
        if self.kind == 'cpu peak rss delta':
            self._start = self._peak = _rss_bytes()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        else:
            self._start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return self

    def __exit__(self, *exc):
        if self.kind == 'cpu peak rss delta':
            self._stop.set()
            self._thread.join()
            self._peak = max(self._peak, _rss_bytes() or 0)
        else:
            self._peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        self.peak_delta = max(0, self._peak - self._start)
        return False


def measure_latency(fn: Callable[[], Any],
                    warmup: int = 5,
                    runs: int = 20,
                    batch: int = 1,
                    device: str = 'cpu',
                    backend: str = 'torch',
                    threads: Optional[int] = None,
                    measure_memory: bool = True,
                    input_shape: Sequence[int] = ()) -> LatencyResult:
    """Time ``fn()`` (see the module docstring for the protocol and the memory figures)."""
    if runs < 1:
        raise ValueError(f'runs must be >= 1, got {runs}.')
    if warmup < 0:
        raise ValueError(f'warmup must be >= 0, got {warmup}.')
    cuda = str(device).startswith('cuda')
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    peak_mib, memory_kind = None, ''
    if cuda and measure_memory:
        sync()
        torch.cuda.reset_peak_memory_stats()
        for _ in range(max(warmup, 1)):
            fn()
        sync()
        peak_mib, memory_kind = torch.cuda.max_memory_allocated() / 2**20, 'cuda max allocated'
    elif measure_memory:
        with PeakRSSSampler() as sampler:
            for _ in range(max(warmup, 1)):
                fn()
        peak_mib, memory_kind = sampler.peak_delta / 2**20, sampler.kind
    else:
        for _ in range(warmup):
            fn()
    times = []
    for _ in range(runs):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - start) * 1e3)
    return LatencyResult(
        times_ms=times, batch=batch, backend=backend, device='cuda' if cuda else 'cpu',
        threads=threads if threads is not None else torch.get_num_threads(),
        warmup=max(warmup, 1) if measure_memory else warmup, peak_memory_mib=peak_mib,
        memory_kind=memory_kind, input_shape=tuple(input_shape))


def benchmark_torch(module: nn.Module, inputs: torch.Tensor, warmup: int = 5, runs: int = 20,
                    backend: str = 'torch', measure_memory: bool = True) -> LatencyResult:
    """Latency of ``module(inputs)`` under ``torch.inference_mode`` (eval mode)."""
    module.eval()

    def call():
        with torch.inference_mode():
            module(inputs)

    return measure_latency(call, warmup=warmup, runs=runs, batch=inputs.shape[0],
                           device=inputs.device.type, backend=backend,
                           measure_memory=measure_memory, input_shape=tuple(inputs.shape))


def set_num_threads(threads: Optional[int]) -> int:
    """Set PyTorch's intra-op threads (``None``/0: leave the default); return the count in use.

    Pass the same number to :func:`make_ort_session` so both backends are compared fairly.
    """
    if threads:
        torch.set_num_threads(int(threads))
    return torch.get_num_threads()


def make_ort_session(path: str, threads: Optional[int] = None, device: str = 'cpu'):
    """An onnxruntime session with all graph optimisations, ``threads`` intra-op threads
    (default: PyTorch's current count, for a like-for-like comparison) and the CUDA provider
    first when ``device='cuda'`` and it is available."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = int(threads or torch.get_num_threads())
    providers = ['CPUExecutionProvider']
    if str(device).startswith('cuda') and \
            'CUDAExecutionProvider' in ort.get_available_providers():
        providers.insert(0, 'CUDAExecutionProvider')
    return ort.InferenceSession(path, options, providers=providers)


def benchmark_onnxruntime(session, inputs: np.ndarray, warmup: int = 5, runs: int = 20,
                          measure_memory: bool = True) -> LatencyResult:
    """Latency of ``session.run`` on one input array (CPU memory: RSS, see module docs)."""
    inputs = np.ascontiguousarray(inputs)
    feed = {session.get_inputs()[0].name: inputs}
    provider = session.get_providers()[0]
    device = 'cuda' if provider.startswith('CUDA') else 'cpu'
    threads = session.get_session_options().intra_op_num_threads
    result = measure_latency(
        lambda: session.run(None, feed), warmup=warmup, runs=runs, batch=inputs.shape[0],
        device='cpu', backend='onnxruntime', threads=threads,
        measure_memory=measure_memory and device == 'cpu', input_shape=inputs.shape)
    result.device = device
    return result


def _cpu_model() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> Dict[str, Any]:
    """Where a measurement was taken: date, CPU, core/thread counts, library versions."""
    info = dict(
        date=datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
        cpu=_cpu_model(),
        logical_cpus=os.cpu_count(),
        torch_threads=torch.get_num_threads(),
        torch=torch.__version__,
        python=platform.python_version(),
        platform=platform.platform())
    try:
        import onnxruntime
        info['onnxruntime'] = onnxruntime.__version__
    except ImportError:
        pass
    if torch.cuda.is_available():
        info['gpu'] = torch.cuda.get_device_name()
    return info
