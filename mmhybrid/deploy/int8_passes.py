# Copyright (c) mmhybrid contributors. All rights reserved.
"""Graph passes of the int8 path, on ONNX files around ``quantize_static``, and what a
quantized file holds.

:func:`fuse_gelu` (before quantizing) and :func:`keep_inputs_float` (after) edit the graph with
:class:`~mmhybrid.deploy.graph.GraphEditor`, the editor of the mobile pass too;
:func:`ort_kernel_counts` reads back what ORT's own optimizer makes of a file
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
    Mul 0.5``, or with the 0.5 applied to ``x`` first) by one ``com.microsoft`` ``Gelu`` node
    (in place); returns how many were fused.

    In fp32, ORT fuses these five nodes into one ``Gelu`` kernel itself. In a QDQ graph it can
    not: the quantizer gives each consumer of ``x`` its own DequantizeLinear, so ``Div`` and
    ``Mul`` no longer read the same tensor, and quantized ``Mul``/``Add`` break the pattern too.
    Fused before quantizing, the ``Gelu`` is not quantized (it is not in the quantized op types)
    and runs in float between one DequantizeLinear and one QuantizeLinear. Why (EdgeViT-XXS) and
    why SiLU is not fused the same way (HAT-Net-T): the measurements in docs/en/deployment.md.
    """
    from onnx import helper
    editor = GraphEditor(model, infer_shapes=False)
    graph, consts = model.graph, editor.consts
    producer, consumers = editor.producers(), editor.consumers()

    def const_is(name, value):
        return name in consts and consts[name].size == 1 and \
            abs(float(consts[name].reshape(-1)[0]) - value) < 1e-4 * abs(value)

    def other(node, name):
        rest = [i for i in node.input if i != name]
        return rest[0] if len(rest) == 1 else None

    def only_consumer(name, op_type):
        users = consumers[name]
        return users[0] if len(users) == 1 and users[0].op_type == op_type else None

    fused, remove = 0, set()
    for erf in [n for n in graph.node if n.op_type == 'Erf']:
        div = producer.get(erf.input[0])
        if div is None or div.op_type != 'Div' or not const_is(div.input[1], 2 ** 0.5):
            continue
        x = div.input[0]
        add = only_consumer(erf.output[0], 'Add')
        if add is None or not const_is(other(add, erf.output[0]) or '', 1.0):
            continue
        mul1 = only_consumer(add.output[0], 'Mul')
        if mul1 is None:
            continue
        factor = other(mul1, add.output[0])
        group = [div, erf, add, mul1]
        if factor == x:  # x * (1 + erf) then * 0.5
            mul2 = only_consumer(mul1.output[0], 'Mul')
            if mul2 is None or not const_is(other(mul2, mul1.output[0]) or '', 0.5):
                continue
            group.append(mul2)
            out = mul2.output[0]
        else:  # (x * 0.5) * (1 + erf)
            half = producer.get(factor)
            if half is None or half.op_type != 'Mul' or x not in half.input or \
                    not const_is(other(half, x) or '', 0.5) or len(consumers[factor]) != 1:
                continue
            group.append(half)
            out = mul1.output[0]
        if len(consumers[div.output[0]]) != 1:
            continue
        index = min(list(graph.node).index(n) for n in group)
        graph.node.insert(index, helper.make_node(
            'Gelu', [x], [out], name=f'{erf.name}_Gelu', domain='com.microsoft'))
        remove.update(id(n) for n in group)
        fused += 1
    if fused:
        kept = [n for n in graph.node if id(n) not in remove]
        del graph.node[:]
        graph.node.extend(kept)
        editor.drop_unused_initializers()
        if not any(o.domain == 'com.microsoft' for o in model.opset_import):
            model.opset_import.append(helper.make_opsetid('com.microsoft', 1))
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
