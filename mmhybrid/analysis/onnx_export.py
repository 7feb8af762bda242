# Copyright (c) mmhybrid contributors. All rights reserved.
"""ONNX export with an onnxruntime parity check.

:func:`export_onnx` traces a module (TorchScript-based exporter, ``dynamo=False``, opset 17 by
default) and :func:`check_onnx_parity` runs the file in onnxruntime and compares every output
with PyTorch's. The error measure is the *relative* one used across mmhybrid:

    ``max |onnx - torch| / max |torch|``  per output, the maximum over outputs,

and the default tolerance is ``1e-4``. With ``dynamic=True`` batch, height and width are
dynamic axes; since a traced graph can silently freeze shape-dependent Python logic (padding
amounts, window counts), parity is then also checked at a second input size
(:func:`dynamic_check_size`) and batch 2.

:func:`export_and_check` writes to a temporary file beside the output and moves it into place
only when every check passed, so a failed export or check leaves nothing at the output path (an
existing file there stays as it was).
"""
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from mmhybrid.utils.fileio import atomic_output

__all__ = [
    'DEFAULT_RTOL', 'DYNAMIC_CHECK_OFFSETS', 'OnnxParityError', 'ParityResult',
    'flatten_outputs', 'relative_error', 'export_onnx', 'check_onnx_parity', 'dynamic_check_size',
    'export_and_check'
]

DEFAULT_RTOL = 1e-4
#: Added to the export height and width for the second check of a dynamic export; see
#: :func:`dynamic_check_size`.
DYNAMIC_CHECK_OFFSETS = (48, 80)


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
    the input and of every 4-D output (batch only for others).
    """
    module.eval()
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
    from .latency import make_ort_session
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
                     mobile: Optional[str] = None) -> ParityResult:
    """:func:`export_onnx` then :func:`check_onnx_parity` on ``inputs`` and, when ``dynamic``,
    also on a batch-2 input of ``extra_shape`` (default: :func:`dynamic_check_size`).
    ``mobile`` (a profile of :data:`~mmhybrid.analysis.mobile_onnx.MOBILE_PROFILES`,
    static exports only) rewrites the file with :func:`~mmhybrid.analysis.mobile_onnx.make_mobile`
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
        height, width = extra_shape or dynamic_check_size(inputs.shape[2], inputs.shape[3])
        generator = torch.Generator().manual_seed(1)
        checks.append(
            torch.randn(2, inputs.shape[1], height, width, generator=generator).to(inputs))
    with atomic_output(path) as tmp:
        export_onnx(module, inputs, tmp, opset=opset, dynamic=dynamic)
        if mobile:  # rewritten before the parity check (mmhybrid.analysis.mobile_onnx)
            from .mobile_onnx import make_mobile_file
            make_mobile_file(tmp, profile=mobile)
        result = check_onnx_parity(tmp, module, checks, rtol=rtol, name=str(path))
    return result
