# Copyright (c) mmhybrid contributors. All rights reserved.
"""ONNX export with an onnxruntime parity check.

:func:`export_onnx` traces a module (TorchScript-based exporter, ``dynamo=False``, opset 17 by
default) and :func:`check_onnx_parity` runs the file in onnxruntime and compares every output
with PyTorch's. The error measure is the *relative* one used across mmhybrid:

    ``max |onnx - torch| / max |torch|``  per output, the maximum over outputs,

and the default tolerance is ``1e-4``. With ``dynamic=True`` batch, height and width are
dynamic axes; since a traced graph can silently freeze shape-dependent Python logic (padding
amounts, window counts, sizes computed with ``int(...)``), parity is then also checked at two
more input sizes (:func:`dynamic_check_sizes`: batch 2 at the first, batch 1 at the second), so
three sizes with pairwise different remainders modulo 32 and 64 are checked in all.

Dynamic exports (:func:`export_onnx` with ``dynamic=True``):

* are refused *before* tracing when the module holds an operator that ONNX cannot express with
  a dynamic height/width (:func:`dynamic_export_blockers`: adaptive pooling to an output size
  other than 1, whose kernel and stride the exporter must compute from a static input size);
* trace mmseg's ``Upsample`` (``scale_factor`` without ``size``, used by FPN heads), whose
  ``int(h * scale_factor)`` would be frozen into the graph, through an equivalent forward that
  computes the same size from the traced shape (:func:`traceable_resizes`; eager mode and the
  module itself are untouched);
* tell the modules whose graph depends on it that height and width are dynamic
  (:func:`dynamic_export_mode`: their ``set_dynamic_export(True)`` for the export, e.g.
  HAT-Net/TransCNN's window attention then always builds its padding mask); the module is
  told, nothing is read from a global flag.

:func:`export_and_check` writes to a temporary file beside the output and moves it into place
only when every check passed, so a failed export or check leaves nothing at the output path (an
existing file there stays as it was).
"""
import contextlib
import os
import os.path as osp
import types
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmhybrid.utils.fileio import atomic_output

__all__ = [
    'DEFAULT_RTOL', 'DYNAMIC_CHECK_OFFSETS', 'DYNAMIC_CHECK_SIZE_OFFSETS', 'OnnxParityError',
    'ParityResult', 'flatten_outputs', 'relative_error', 'export_onnx', 'check_onnx_parity',
    'dynamic_check_size', 'dynamic_check_sizes', 'dynamic_export_blockers', 'traceable_resizes',
    'dynamic_export_mode', 'export_and_check'
]

DEFAULT_RTOL = 1e-4
#: ``(height, width)`` offsets added to the export size for the extra checks of a dynamic export;
#: see :func:`dynamic_check_sizes`.
DYNAMIC_CHECK_SIZE_OFFSETS = ((48, 80), (24, 40))
#: The first of :data:`DYNAMIC_CHECK_SIZE_OFFSETS` (:func:`dynamic_check_size`).
DYNAMIC_CHECK_OFFSETS = DYNAMIC_CHECK_SIZE_OFFSETS[0]


class OnnxParityError(AssertionError):
    """onnxruntime's outputs differ from PyTorch's by more than the tolerance."""


def flatten_outputs(outputs) -> List[torch.Tensor]:
    """A model's tensor / tuple / list / dict outputs as a flat list of tensors."""
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    if isinstance(outputs, dict):
        outputs = list(outputs.values())
    flat = []
    for item in outputs:
        flat.extend(flatten_outputs(item))
    return flat


def relative_error(got: Sequence[np.ndarray], expected: Sequence[np.ndarray]) -> List[float]:
    """``max |got - expected| / max |expected|`` for each pair of arrays."""
    if len(got) != len(expected):
        raise OnnxParityError(f'{len(got)} outputs, expected {len(expected)}.')
    errors = []
    for g, e in zip(got, expected):
        g, e = np.asarray(g, dtype=np.float64), np.asarray(e, dtype=np.float64)
        if g.shape != e.shape:
            raise OnnxParityError(f'output shape {g.shape}, expected {e.shape}.')
        errors.append(float(np.abs(g - e).max() / max(np.abs(e).max(), 1e-12)) if e.size else 0.)
    return errors


@dataclass
class ParityResult:
    """Relative errors of onnxruntime vs PyTorch, per checked input shape."""
    rtol: float
    errors: Dict[Tuple[int, ...], List[float]] = field(default_factory=dict)

    @property
    def max_error(self) -> float:
        return max((max(e) for e in self.errors.values() if e), default=0.)

    @property
    def passed(self) -> bool:
        return self.max_error <= self.rtol


def dynamic_check_size(height: int, width: int) -> Tuple[int, int]:
    """The input size of the second parity check of a dynamic export of ``height x width``.

    ``(height + 48, width + 80)``: both offsets are odd multiples of 16, so each side's remainder
    modulo 32 and modulo 64 differs from the export size's (48 = 16 mod 32 = 48 mod 64, 80 = 16
    mod 32 = 16 mod 64). Padding amounts, window counts or pooled sizes that tracing froze into
    the graph (they depend on the size modulo a stride of 32 or 64) are therefore different at
    the check size and show up as a mismatch. The offsets differ between height and width so that
    swapped axes are caught too, and are small so that the check stays cheap.
    """
    return height + DYNAMIC_CHECK_OFFSETS[0], width + DYNAMIC_CHECK_OFFSETS[1]


def dynamic_check_sizes(height: int, width: int) -> List[Tuple[int, int]]:
    """The extra input sizes at which a dynamic export of ``height x width`` is checked.

    ``[(height + 48, width + 80), (height + 24, width + 40)]``; the first is
    :func:`dynamic_check_size`. Per side the offsets are 0 (the export size), 48, 24 (height) and
    0, 80, 40 (width): remainders 0/16/24 and 0/16/8 modulo 32, 0/48/24 and 0/16/40 modulo 64,
    so the three sizes differ pairwise modulo 32 and modulo 64 on both axes. A graph that froze
    one size-dependent quantity (a padding amount, a pooled size) can match at two sizes by
    chance, hardly at three.
    """
    return [(height + dh, width + dw) for dh, dw in DYNAMIC_CHECK_SIZE_OFFSETS]


def _is_unit_size(output_size) -> bool:
    sizes = output_size if isinstance(output_size, (tuple, list)) else (output_size, )
    return all(size in (1, None) for size in sizes)


def dynamic_export_blockers(module: nn.Module) -> List[str]:
    """Why ``module`` cannot be exported with dynamic height/width: one line per blocking
    submodule (empty when nothing is known to block).

    ONNX has no adaptive pooling. The exporter writes ``nn.AdaptiveAvgPool*`` /
    ``nn.AdaptiveMaxPool*`` to a fixed output size other than 1 as ``AveragePool`` /
    ``MaxPool`` with a kernel and stride computed from the *static* input size, and needs that
    size to be a multiple of the output size; with a dynamic height/width the input size is
    unknown (pooling to 1 is ``GlobalAveragePool`` / ``GlobalMaxPool`` and always works).
    Functional pooling in a ``forward`` cannot be seen here; the exporter's own error names it.
    """
    pools = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
             nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)
    blockers = []
    for name, sub in module.named_modules():
        if isinstance(sub, pools) and not _is_unit_size(sub.output_size):
            blockers.append(
                f'{name or type(module).__name__} ({type(sub).__name__} to '
                f'{sub.output_size}): ONNX has no adaptive pooling; the exporter needs a static '
                'input size (a multiple of the output size) to turn it into a fixed '
                'kernel and stride')
    return blockers


def _scaled_size(size, factor: float):
    """``int(size * factor)`` (mmseg's ``Upsample``), as graph operations on a traced size."""
    if not isinstance(size, torch.Tensor):
        return int(size * factor)
    if float(factor).is_integer():
        return size * int(factor)
    return torch.floor(size.to(torch.float64) * factor).to(torch.int64)


def _traceable_upsample_forward(self, x: torch.Tensor) -> torch.Tensor:
    """mmseg's ``Upsample.forward`` for ``scale_factor`` without ``size``: the same output size
    and ``F.interpolate`` call, with the size computed by :func:`_scaled_size`."""
    factors = self.scale_factor if isinstance(self.scale_factor, tuple) else \
        (self.scale_factor, ) * (x.dim() - 2)
    size = [_scaled_size(s, f) for s, f in zip(x.shape[2:], factors)]
    return F.interpolate(x, size, None, self.mode, self.align_corners)


def _mmseg_upsample_class():
    try:
        from mmseg.models.utils import Upsample
    except ImportError:
        return None
    return Upsample


@contextlib.contextmanager
def traceable_resizes(module: nn.Module):
    """Within the context, resizes in ``module`` whose output size tracing would freeze are
    traced through equivalent forwards that keep the size symbolic.

    mmseg's ``Upsample`` (FPN heads' ``scale_heads``) computes its output size as
    ``[int(t * scale_factor) for t in x.shape[-2:]]``: ``int`` turns the traced size into a
    constant, so a dynamic-shape graph resized every input to the export size's map size.
    Each such instance (``scale_factor`` set, ``size`` not) gets an instance ``forward``
    computing the same size with tensor operations (``h * 2`` for integral factors, ``floor(h *
    f)`` otherwise), removed again on exit; class, weights and eager behaviour are unchanged.
    """
    upsample = _mmseg_upsample_class()
    patched = []
    if upsample is not None:
        for sub in module.modules():
            if type(sub) is upsample and not sub.size and sub.scale_factor \
                    and 'forward' not in vars(sub):
                sub.forward = types.MethodType(_traceable_upsample_forward, sub)
                patched.append(sub)
    try:
        yield patched
    finally:
        for sub in patched:
            vars(sub).pop('forward', None)


@contextlib.contextmanager
def dynamic_export_mode(module: nn.Module) -> Iterator[List[nn.Module]]:
    """Within the block, every submodule of ``module`` with a ``set_dynamic_export`` method
    (e.g. :class:`mmhybrid.models.layers.HMHSA`) knows that a trace with dynamic height/width
    is being recorded; each gets its previous setting (``dynamic_export``) back afterwards.
    Yields the modules told."""
    told = [(sub, getattr(sub, 'dynamic_export', False)) for sub in module.modules()
            if callable(getattr(sub, 'set_dynamic_export', None))]
    for sub, _ in told:
        sub.set_dynamic_export(True)
    try:
        yield [sub for sub, _ in told]
    finally:
        for sub, previous in told:
            sub.set_dynamic_export(previous)


def _output_names(num: int) -> List[str]:
    return ['output'] if num == 1 else [f'output{i}' for i in range(num)]


@torch.no_grad()
def export_onnx(module: nn.Module,
                inputs: torch.Tensor,
                path: str,
                opset: int = 17,
                dynamic: bool = False) -> List[str]:
    """Export ``module(inputs)`` to ``path``; returns the output names.

    The input is named ``input``; outputs ``output`` (one) or ``output0..N`` (several, in the
    order of the flattened tuple). ``dynamic`` marks batch / height / width as dynamic axes of
    the input and of every 4-D output (batch only for others), refuses modules with
    :func:`dynamic_export_blockers` before tracing, and traces under :func:`traceable_resizes`
    and :func:`dynamic_export_mode`.

    Raises:
        RuntimeError: the export failed, or (``dynamic``) was refused before tracing.
    """
    module.eval()
    if dynamic:
        blockers = dynamic_export_blockers(module)
        if blockers:
            raise RuntimeError(
                f'{type(module).__name__} cannot be exported with dynamic height/width: '
                + '; '.join(blockers) + '. Export without --dynamic at the deployment size.')
    outputs = flatten_outputs(module(inputs))
    names = _output_names(len(outputs))
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    dynamic_axes = None
    if dynamic:
        dynamic_axes = {'input': {0: 'batch', 2: 'height', 3: 'width'}}
        for i, (name, out) in enumerate(zip(names, outputs)):
            dynamic_axes[name] = {0: 'batch', 2: f'height{i}', 3: f'width{i}'} \
                if out.dim() == 4 else {0: 'batch'}
    try:
        with traceable_resizes(module) if dynamic else contextlib.nullcontext(), \
                dynamic_export_mode(module) if dynamic else contextlib.nullcontext():
            torch.onnx.export(
                module, (inputs, ), path, opset_version=opset, dynamo=False,
                input_names=['input'], output_names=names, dynamic_axes=dynamic_axes,
                do_constant_folding=True)
    except Exception as exc:  # the exporter's errors carry the whole graph: keep the gist
        message = str(exc).split('[Caused by', 1)[0].strip()
        hint = (' This graph cannot have dynamic height/width (e.g. adaptive pooling to a '
                'size computed from the input); export without --dynamic at the deployment '
                'size.') if dynamic else ''
        raise RuntimeError(f'ONNX export of {type(module).__name__} failed: '
                           f'{type(exc).__name__}: {message[:500]}.{hint}') from None
    return names


@torch.no_grad()
def check_onnx_parity(path: str,
                      module: nn.Module,
                      inputs: Sequence[torch.Tensor],
                      rtol: float = DEFAULT_RTOL,
                      session=None,
                      raise_error: bool = True,
                      name: Optional[str] = None) -> ParityResult:
    """Run the ONNX file on each input in onnxruntime (CPU) and compare with ``module``.

    ``name`` is what the messages call the file (default: ``path``).

    Raises:
        OnnxParityError: if onnxruntime cannot load the file or fails to run it at one of the
            input shapes (named in the message; its errors are often
            ``onnxruntime.capi.onnxruntime_pybind11_state.*`` exceptions, which are no
            ``RuntimeError``), and, with ``raise_error``, if an output differs by more than
            ``rtol`` (relative, see the module docstring).
    """
    from mmhybrid.analysis.latency import make_ort_session
    name = name or path
    dynamic_hint = (' If only a dynamic-shape check fails, the graph depends on the input size: '
                    'export without --dynamic at the deployment size.')
    if session is None:
        try:
            session = make_ort_session(path)
        except Exception as exc:  # onnxruntime raises its own classes
            raise OnnxParityError(f'onnxruntime cannot load {name}: {_describe(exc)}') from None
    module.eval()
    result = ParityResult(rtol=rtol)
    for x in inputs:
        expected = [t.detach().cpu().numpy() for t in flatten_outputs(module(x))]
        try:
            got = session.run(None, {session.get_inputs()[0].name: x.detach().cpu().numpy()})
        except Exception as exc:  # e.g. onnxruntime_pybind11_state.Fail
            raise OnnxParityError(
                f'onnxruntime failed to run {name} at input shape {list(x.shape)}: '
                f'{_describe(exc)}.{dynamic_hint if len(result.errors) else ""}') from None
        result.errors[tuple(x.shape)] = relative_error(got, expected)
    if raise_error and not result.passed:
        details = '; '.join(f'{list(shape)}: max {max(errs):.2e}'
                            for shape, errs in result.errors.items())
        raise OnnxParityError(
            f'onnxruntime differs from PyTorch by more than rtol={rtol:g} ({details}) for '
            f'{name}.{dynamic_hint}')
    return result


def _describe(exc: BaseException, limit: int = 500) -> str:
    """``Type: first part of the message`` of an exception (onnxruntime's are long)."""
    message = ' '.join(str(exc).split())
    return f'{type(exc).__name__}: {message[:limit]}'


def export_and_check(module: nn.Module,
                     inputs: torch.Tensor,
                     path: str,
                     opset: int = 17,
                     dynamic: bool = False,
                     rtol: float = DEFAULT_RTOL,
                     extra_shape: Optional[Sequence[int]] = None,
                     extra_shapes: Optional[Sequence[Sequence[int]]] = None,
                     mobile: Optional[str] = None) -> ParityResult:
    """:func:`export_onnx` then :func:`check_onnx_parity` on ``inputs`` and, when ``dynamic``,
    also on random inputs of ``extra_shapes`` (``(H, W)`` each; default
    :func:`dynamic_check_sizes`, two sizes), the first at batch 2 and the others at batch 1.
    ``extra_shape`` (one ``(H, W)``) is the older form: only that size is checked besides
    ``inputs``. ``mobile`` (a profile of :data:`~mmhybrid.deploy.mobile.MOBILE_PROFILES`,
    static exports only) rewrites the file with :func:`~mmhybrid.deploy.mobile.make_mobile`
    before the parity check.

    The file is written under a temporary name in ``path``'s folder and moved to ``path`` only
    when every check passed; on any error nothing is left behind (and a file already at ``path``
    is untouched). Refusing to replace an existing file is the caller's decision.

    Raises:
        RuntimeError: the export failed.
        OnnxParityError: a check failed (mismatch, or onnxruntime failed at some input shape).
    """
    checks = [inputs]
    if dynamic:
        if extra_shapes is None:
            extra_shapes = [extra_shape] if extra_shape else dynamic_check_sizes(
                int(inputs.shape[2]), int(inputs.shape[3]))
        generator = torch.Generator().manual_seed(1)
        for i, (height, width) in enumerate(extra_shapes):
            checks.append(
                torch.randn(2 if i == 0 else 1, inputs.shape[1], int(height), int(width),
                            generator=generator).to(inputs))
    with atomic_output(path) as tmp:
        export_onnx(module, inputs, tmp, opset=opset, dynamic=dynamic)
        if mobile:  # rewritten before the parity check (mmhybrid.deploy.mobile)
            from .mobile import make_mobile_file
            make_mobile_file(tmp, profile=mobile)
        result = check_onnx_parity(tmp, module, checks, rtol=rtol, name=str(path))
    return result
