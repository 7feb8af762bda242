# Copyright (c) mmhybrid contributors. All rights reserved.
"""Graph passes of the int8 path, on ONNX files around ``quantize_static``, and what a
quantized file holds.

:func:`fuse_gelu` (before quantizing) is ONNX Runtime's own GELU fusion; :func:`keep_inputs_float`
(after) edits the graph with :class:`~mmhybrid.deploy.graph.GraphEditor`, the editor of the
mobile pass too; :func:`ort_kernel_counts` reads back what ORT's own optimizer makes of a file
(:mod:`mmhybrid.deploy.ort`).
"""
import os.path as osp
import tempfile
from collections import defaultdict
from typing import Any, Dict, Sequence

from .graph import GraphEditor
from .ort import ort_optimize

__all__ = ['fuse_gelu', 'keep_inputs_float', 'ort_kernel_counts', 'count_qdq']


def fuse_gelu(model) -> int:
    """Replace every exact GELU the exporter wrote (``Div(x, sqrt 2) -> Erf -> Add 1 -> Mul x ->
    Mul 0.5`` and its variants) by one ``com.microsoft`` ``Gelu`` node, in place, with ONNX
    Runtime's own ``FusionGelu``; returns how many were fused.

    In fp32, ORT fuses these five nodes into one ``Gelu`` kernel itself. In a QDQ graph it can
    not: the quantizer gives each consumer of ``x`` its own DequantizeLinear, so ``Div`` and
    ``Mul`` no longer read the same tensor, and quantized ``Mul``/``Add`` break the pattern too.
    Fused before quantizing, the ``Gelu`` is not quantized (it is not in the quantized op types)
    and runs in float between one DequantizeLinear and one QuantizeLinear. Why (EdgeViT-XXS) and
    why SiLU is not fused the same way (HAT-Net-T): the measurements in docs/en/deployment.md.
    """
    from onnxruntime.transformers.fusion_gelu import FusionGelu
    from onnxruntime.transformers.onnx_model import OnnxModel

    def gelus():
        return sum(node.op_type == 'Gelu' for node in model.graph.node)

    before = gelus()
    onnx_model = OnnxModel(model)  # wraps ``model`` itself: the fusion edits it in place
    FusionGelu(onnx_model).apply()
    fused = gelus() - before
    if fused:
        onnx_model.prune_graph()  # the constants only the fused nodes read
    return fused


def keep_inputs_float(path: str, op_types: Sequence[str]) -> int:
    """Rewire every node of ``op_types`` that reads ``DequantizeLinear(QuantizeLinear(x))`` to
    read ``x`` (in place; returns how many inputs were rewired).

    ``quantize_static`` leaves Softmax out of ``op_types_to_quantize`` but still quantizes the
    outputs of the ``MatMul`` before it and the input of the ``MatMul`` after it, and ORT then
    fuses ``DQ -> Softmax -> Q`` into ``QLinearSoftmax`` (uint8 attention probabilities). With
    a float input nothing is fused: the node runs in float, its producer becomes a
    ``MatMulIntegerToFloat`` / float-output kernel.
    """
    import onnx
    model = onnx.load(path)
    editor = GraphEditor(model, infer_shapes=False)
    graph, producer = model.graph, editor.producers()
    rewired = 0
    for node in graph.node:
        if node.op_type not in op_types:
            continue
        for i, name in enumerate(node.input):
            dq = producer.get(name)
            if dq is None or dq.op_type != 'DequantizeLinear':
                continue
            quant = producer.get(dq.input[0])
            if quant is None or quant.op_type != 'QuantizeLinear':
                continue
            node.input[i] = quant.input[0]
            rewired += 1
    if rewired:
        _prune_dangling(editor)
        onnx.save(model, path)
    return rewired


def _prune_dangling(editor: GraphEditor) -> None:
    """Remove Quantize/DequantizeLinear nodes whose outputs nobody reads, and unused
    initializers."""
    graph = editor.model.graph
    outputs = {o.name for o in graph.output}
    while True:
        used = {name for node in graph.node for name in node.input} | outputs
        dead = [node for node in graph.node
                if node.op_type in ('QuantizeLinear', 'DequantizeLinear')
                and not any(out in used for out in node.output)]
        if not dead:
            break
        for node in dead:
            graph.node.remove(node)
    editor.drop_unused_initializers()


def ort_kernel_counts(path: str) -> Dict[str, int]:
    """Operator counts of the graph ORT actually runs (after its extended-level optimizations,
    which fuse QDQ groups into ``QLinearConv``, ``QLinearSoftmax``, ``MatMulIntegerToFloat``...).
    """
    import onnx
    with tempfile.TemporaryDirectory() as tmp:
        model = onnx.load(ort_optimize(path, osp.join(tmp, 'optimized.onnx'), 'extended'))
    counts: Dict[str, int] = defaultdict(int)
    for node in model.graph.node:
        counts[node.op_type] += 1
    return dict(counts)


def count_qdq(path: str) -> Dict[str, Any]:
    """What a QDQ file holds: Quantize/DequantizeLinear counts, int8 weight tensors and how many
    of them have per-channel (1-D, length > 1) scales."""
    import onnx
    from onnx import numpy_helper
    model = onnx.load(path)
    inits = {i.name: i for i in model.graph.initializer}
    counts = defaultdict(int)
    weights = per_channel = 0
    for node in model.graph.node:
        counts[node.op_type] += 1
        if node.op_type == 'DequantizeLinear' and node.input[0] in inits \
                and node.input[1] in inits \
                and inits[node.input[0]].data_type in (onnx.TensorProto.INT8,
                                                       onnx.TensorProto.UINT8):
            weights += 1  # int8 weights (int32 biases are not counted)
            if numpy_helper.to_array(inits[node.input[1]]).size > 1:
                per_channel += 1
    return dict(quantize_linear=counts['QuantizeLinear'],
                dequantize_linear=counts['DequantizeLinear'],
                weights=weights, per_channel_weights=per_channel, op_counts=dict(counts))
