# Copyright (c) mmhybrid contributors. All rights reserved.
"""Parameters and FLOPs, counting attention.

Counts come from MMEngine's fvcore-style :class:`mmengine.analysis.FlopAnalyzer` (one fused
multiply-add = one FLOP; convolutions, linear layers, norms, interpolation), the convention of
the EdgeViT, TopFormer and HAT-Net tables. Out of the box it misses or miscounts attention in
the forms the four families use, so :func:`flop_handles` adds or replaces:

* ``aten::scaled_dot_product_attention`` (EdgeViT, HAT-Net, TRT-ViT): not counted at all by
  fvcore; counted here as its two matmuls, ``q @ k^T`` and ``attn @ v``
  (``B * heads * Lq * Lk * (d_qk + d_v)``). The softmax and scaling are not counted, as
  fvcore does not count them for the unfused form either.
* ``aten::matmul`` (``@`` / ``torch.matmul``, TopFormer): fvcore multiplies the *first*
  operand's shape by the last dim of the second, which under-counts when only the second
  operand carries the batch dimensions. Counted with broadcasting here; identical otherwise.
* ``aten::baddbmm`` (attention with a bias): counted as its ``bmm``.

``aten::bmm``, ``aten::mm``, ``aten::einsum`` and ``aten::linear`` keep fvcore's handles.

Example:
    >>> from mmhybrid.analysis import count_complexity
    >>> result = count_complexity(model, torch.rand(1, 3, 224, 224))
    >>> result.params, result.flops, result.attention_flops
"""
from dataclasses import dataclass, field
from math import prod
from typing import Any, Dict, List, Sequence, Tuple, Union

import torch
import torch.nn as nn

__all__ = [
    'ATTENTION_OPS', 'ComplexityResult', 'sdpa_flop_jit', 'matmul_flop_jit',
    'baddbmm_flop_jit', 'flop_handles', 'count_complexity', 'count_parameters'
]

#: Operators whose FLOPs are reported as "attention / matmul" FLOPs.
ATTENTION_OPS = ('aten::scaled_dot_product_attention', 'aten::matmul', 'aten::bmm',
                 'aten::baddbmm', 'aten::einsum')


def _shape(value) -> List[int]:
    from mmengine.analysis.jit_handles import get_shape
    return list(get_shape(value))


def _broadcast(a: Sequence[int], b: Sequence[int]) -> List[int]:
    return list(torch.broadcast_shapes(tuple(a), tuple(b)))


def sdpa_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """``F.scaled_dot_product_attention(q, k, v)``: the matmuls ``q @ k^T`` and ``attn @ v``.

    ``q``: ``(..., Lq, E)``, ``k``: ``(..., Lk, E)``, ``v``: ``(..., Lk, Ev)``; leading dims
    broadcast.
    """
    query, key, value = (_shape(v) for v in inputs[:3])
    batch = prod(_broadcast(_broadcast(query[:-2], key[:-2]), value[:-2]))
    queries, embed = query[-2:]
    keys, value_embed = key[-2], value[-1]
    return batch * queries * keys * (embed + value_embed)


def matmul_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """``a @ b`` with numpy broadcasting of the batch dims (and 1-D operands)."""
    a, b = (_shape(v) for v in inputs[:2])
    if len(a) == 1:
        a = [1] + a
    if len(b) == 1:
        b = b + [1]
    if a[-1] != b[-2]:
        raise ValueError(f'matmul shapes do not match: {a} @ {b}')
    return prod(_broadcast(a[:-2], b[:-2])) * a[-2] * a[-1] * b[-1]


def baddbmm_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """``baddbmm(bias, a, b)``: the ``a @ b`` batched matmul (the addition is not counted)."""
    a, b = _shape(inputs[1]), _shape(inputs[2])
    return a[0] * a[1] * a[2] * b[2]


def flop_handles() -> Dict[str, Any]:
    """The handles :func:`count_complexity` adds to ``FlopAnalyzer`` (see the module docs)."""
    return {
        'aten::scaled_dot_product_attention': sdpa_flop_jit,
        'aten::matmul': matmul_flop_jit,
        'aten::baddbmm': baddbmm_flop_jit,
    }


def count_parameters(module: nn.Module) -> int:
    """Number of parameter elements (shared parameters counted once)."""
    return sum(p.numel() for p in {id(p): p for p in module.parameters()}.values())


@dataclass
class ComplexityResult:
    """Counts for one module at one input.

    Attributes:
        params: parameter elements.
        flops: fvcore-style FLOPs (multiply-accumulates) of one forward pass of the whole batch.
        by_operator: FLOPs per aten operator.
        unsupported_ops: operators that were seen but not counted, with how often
            (element-wise ops such as ``aten::add`` are not counted by design).
        input_shape: the input's shape.
    """
    params: int
    flops: int
    by_operator: Dict[str, int] = field(default_factory=dict)
    unsupported_ops: Dict[str, int] = field(default_factory=dict)
    input_shape: Tuple[int, ...] = ()

    @property
    def attention_flops(self) -> int:
        """FLOPs in matmul / attention operators (:data:`ATTENTION_OPS`)."""
        return sum(self.by_operator.get(op.replace('aten::', ''), 0) for op in ATTENTION_OPS)

    def to_dict(self) -> dict:
        return dict(params=self.params, flops=self.flops, attention_flops=self.attention_flops,
                    by_operator=dict(self.by_operator), unsupported_ops=dict(
                        self.unsupported_ops), input_shape=list(self.input_shape))


@torch.no_grad()
def count_complexity(module: nn.Module,
                     inputs: Union[torch.Tensor, Tuple[torch.Tensor, ...]]) -> ComplexityResult:
    """Count the parameters and FLOPs of ``module(*inputs)`` (traced with ``torch.jit``).

    The module is put in eval mode. FLOPs cover the whole batch (divide by the batch size for
    per-image figures).
    """
    from mmengine.analysis import FlopAnalyzer

    if isinstance(inputs, torch.Tensor):
        inputs = (inputs, )
    module.eval()
    analyzer = FlopAnalyzer(module, inputs)
    for name, handle in flop_handles().items():
        analyzer.set_op_handle(name, handle)
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    analyzer.tracer_warnings('none')
    total = int(analyzer.total())
    by_operator = {k: int(v) for k, v in analyzer.by_operator().items() if v}
    unsupported = dict(analyzer.unsupported_ops())
    return ComplexityResult(
        params=count_parameters(module), flops=total, by_operator=by_operator,
        unsupported_ops=unsupported, input_shape=tuple(inputs[0].shape))
