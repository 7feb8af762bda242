# Copyright (c) mmhybrid contributors. All rights reserved.
"""The ``--mobile`` ONNX profile: static graphs in operators NNAPI and CoreML run.

ONNX Runtime's mobile checker (``python -m onnxruntime.tools.check_onnx_model_mobile_usability``)
estimates how an exported model is split between the NNAPI / CoreML execution providers and the
CPU. Every node that such a provider does not take starts a new partition, and so does every
node with an input whose shape is not static. :func:`make_mobile` rewrites a static-shape export
so that fewer nodes fall out:

1. **Static shapes folded to constants.** ONNX Runtime's basic-level optimizer (constant folding,
   ``Shape`` of static tensors, Conv+BN/Add/Mul folding: the level the checker applies itself)
   folds the shape arithmetic of the any-size padding paths; then ONNX shape inference must give
   every value a static shape (an input with a dynamic axis is refused).
2. **Exact operator rewrites** (exact up to float rounding, checked by the tests):

   - ``HardSigmoid(x)`` -> ``Clip(x * alpha + beta, 0, 1)`` (its definition);
   - ``LayerNormalization`` -> ``MatMul`` with a constant ``1/C`` column for the means, ``Sub``,
     ``Mul``, ``Add``, ``Sqrt``, ``Div`` (CoreML NeuralNetwork has no ``ReduceMean``);
   - ``InstanceNormalization`` -> ``GlobalAveragePool`` means (the input seen as
     ``N x C x L x 1``), ``Sub``, ``Mul``, ``Add``, ``Sqrt``, ``Div``;
   - ``BatchNormalization`` not folded into a convolution -> ``Mul`` + ``Add`` per channel
     (CoreML MLProgram has no BatchNormalization);
   - depthwise ``ConvTranspose`` with kernel == stride and no padding (EdgeViT's local
     propagation) -> nearest ``Resize`` by the stride (``asymmetric``/``floor``: each pixel is
     copied to its block), ``Mul`` by the kernel tiled over the output, ``Add`` bias: one product
     and one sum per output value, as in the convolution;
   - ``Pad`` with all-zero pads removed; zero-valued constant ``Pad`` of the spatial axes feeding
     only convolutions folded into their ``pads``;
   - ``Gather`` of one constant scalar index -> ``Slice`` + ``Squeeze``;
   - empty optional inputs (``''``, which the checker counts as dynamic shapes) dropped when
     trailing, and given as empty constants otherwise (``Resize``'s roi and scales).

3. **Optional, not exact:** ``erf='rational'`` replaces ``Erf`` (exact GELU) by a clamped odd/even
   rational polynomial in ``Clip``/``Mul``/``Add``/``Div`` (maximum absolute error 4.5e-7, about 8
   float32 ulp, against 6e-8 for onnxruntime's own ``Erf``). The default keeps ``Erf``, which
   NNAPI and CoreML NeuralNetwork do not run (CoreML MLProgram does).

:func:`mmhybrid.deploy.mobile_check.check_mobile_usability` runs the checker's partition checks
per execution provider. The graph is edited with :class:`mmhybrid.deploy.graph.GraphEditor`.
"""
from collections import Counter
from typing import Dict, Sequence

import numpy as np

from .graph import GraphEditError, GraphEditor, prune
from .graph import attrs as _attrs
from .graph import f32 as _f32
from .ort import ort_optimize_model

__all__ = ['MobileRewriteError', 'make_mobile', 'make_mobile_file', 'count_ops',
           'ERF_COEFFICIENTS', 'MOBILE_PROFILES']


class MobileRewriteError(GraphEditError):
    """The graph cannot be brought into the mobile profile (e.g. a dynamic input shape)."""


#: Numerator (odd, highest power first, x^13 .. x^1) and denominator (even, x^8 .. x^0)
#: coefficients of the float32 ``erf`` approximation on ``[-4, 4]`` used by Eigen / XLA.
ERF_COEFFICIENTS = (
    (-2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06, -5.69250639462346e-05,
     -7.34990630326855e-04, -2.95459980854025e-03, -1.60960333262415e-02),
    (-1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03, -7.37332916720468e-03,
     -1.42647390514189e-02),
)


def _rewrite_hardsigmoid(g: GraphEditor, node):
    attrs = _attrs(node)
    alpha, beta = attrs.get('alpha', 0.2), attrs.get('beta', 0.5)
    n1, t1 = g.node('Mul', [node.input[0], g.const('hs_alpha', _f32(alpha))], 'hs_mul')
    n2, t2 = g.node('Add', [t1, g.const('hs_beta', _f32(beta))], 'hs_add')
    n3, _ = g.node('Clip', [t2, g.const('hs_lo', _f32(0)), g.const('hs_hi', _f32(1))], 'hs_clip',
                   outputs=[node.output[0]])
    return [n1, n2, n3]


def _normalize(g: GraphEditor, x, mean_of, eps, hint):
    """``(x - mean(x)) / sqrt(mean((x - mean)^2) + eps)``; ``mean_of(t) -> (nodes, name)``."""
    nodes, mean = mean_of(x)
    n, d = g.node('Sub', [x, mean], hint + '_sub')
    nodes.append(n)
    n, sq = g.node('Mul', [d, d], hint + '_sq')
    nodes.append(n)
    more, var = mean_of(sq)
    nodes += more
    n, v = g.node('Add', [var, g.const(hint + '_eps', _f32(eps))], hint + '_addeps')
    nodes.append(n)
    n, std = g.node('Sqrt', [v], hint + '_sqrt')
    nodes.append(n)
    n, y = g.node('Div', [d, std], hint + '_div')
    nodes.append(n)
    return nodes, y


def _affine(g: GraphEditor, nodes, y, scale, bias, out, hint):
    last = [(scale, 'Mul'), (bias, 'Add')]
    last = [(t, op) for t, op in last if t is not None]
    for i, (t, op) in enumerate(last):
        n, y = g.node(op, [y, t], hint + '_' + op.lower(),
                      outputs=[out] if i == len(last) - 1 else None)
        nodes.append(n)
    if not last:
        n, _ = g.node('Identity', [y], hint + '_out', outputs=[out])
        nodes.append(n)
    return nodes


def _rewrite_layernorm(g: GraphEditor, node):
    if any(o for o in node.output[1:]):
        return None  # mean / inv-std outputs used: leave it
    attrs = _attrs(node)
    x = node.input[0]
    shape = g.shape(x)
    axis = attrs.get('axis', -1) % len(shape)
    if g.dtypes.get(x) != 1:
        return None
    nodes, src = [], x
    if axis != len(shape) - 1:  # normalize several trailing axes: flatten them
        flat = shape[:axis] + [int(np.prod(shape[axis:]))]
        n, src = g.node('Reshape', [x, g.const('ln_shape', np.array(flat, np.int64))], 'ln_flat')
        nodes.append(n)
    width = int(np.prod(shape[axis:]))
    column = g.const('ln_mean', np.full((width, 1), 1.0 / width, np.float32))

    def mean_of(t):
        n, m = g.node('MatMul', [t, column], 'ln_mean')
        return [n], m

    more, y = _normalize(g, src, mean_of, attrs.get('epsilon', 1e-5), 'ln')
    nodes += more
    if axis != len(shape) - 1:
        n, y = g.node('Reshape', [y, g.const('ln_shape', np.array(shape, np.int64))], 'ln_unflat')
        nodes.append(n)
    scale = node.input[1]
    bias = node.input[2] if len(node.input) > 2 and node.input[2] else None
    return _affine(g, nodes, y, scale, bias, node.output[0], 'ln')


def _rewrite_instancenorm(g: GraphEditor, node):
    x, scale, bias = node.input[:3]
    shape = g.shape(x)
    if g.dtypes.get(x) != 1 or scale not in g.consts or bias not in g.consts:
        return None
    channels = shape[1]
    nodes = []
    n, x4 = g.node('Reshape', [x, g.const('in_shape', np.array(
        [shape[0], channels, int(np.prod(shape[2:])), 1], np.int64))], 'in_4d')
    nodes.append(n)

    def mean_of(t):
        n, m = g.node('GlobalAveragePool', [t], 'in_mean')
        return [n], m

    more, y = _normalize(g, x4, mean_of, _attrs(node).get('epsilon', 1e-5), 'in')
    nodes += more
    s = g.const('in_scale', g.consts[scale].astype(np.float32).reshape(channels, 1, 1))
    b = g.const('in_bias', g.consts[bias].astype(np.float32).reshape(channels, 1, 1))
    n, y = g.node('Mul', [y, s], 'in_mul')
    nodes.append(n)
    n, y = g.node('Add', [y, b], 'in_add')
    nodes.append(n)
    n, _ = g.node('Reshape', [y, g.const('in_shape', np.array(shape, np.int64))], 'in_back',
                  outputs=[node.output[0]])
    nodes.append(n)
    return nodes


def _rewrite_batchnorm(g: GraphEditor, node):
    if len(node.output) > 1 and any(node.output[1:]) or _attrs(node).get('training_mode', 0):
        return None
    x, gamma, beta, mean, var = node.input[:5]
    if not all(t in g.consts for t in (gamma, beta, mean, var)):
        return None
    rank = len(g.shape(x))
    eps = _attrs(node).get('epsilon', 1e-5)
    scale = g.consts[gamma].astype(np.float64) / np.sqrt(g.consts[var].astype(np.float64) + eps)
    shift = g.consts[beta].astype(np.float64) - g.consts[mean].astype(np.float64) * scale
    bshape = [-1] + [1] * (rank - 2)
    n1, t = g.node('Mul', [x, g.const('bn_scale', _f32(scale).reshape(bshape))], 'bn_mul')
    n2, _ = g.node('Add', [t, g.const('bn_shift', _f32(shift).reshape(bshape))], 'bn_add',
                   outputs=[node.output[0]])
    return [n1, n2]


def _rewrite_convtranspose(g: GraphEditor, node):
    """Depthwise ConvTranspose with kernel == stride, no padding -> Resize + Mul + Add."""
    attrs = _attrs(node)
    x, w = node.input[:2]
    bias = node.input[2] if len(node.input) > 2 and node.input[2] else None
    if w not in g.consts or (bias and bias not in g.consts):
        return None
    weight = g.consts[w]
    shape = g.shape(x)
    if len(shape) != 4:
        return None
    channels, kernel = shape[1], list(weight.shape[2:])
    strides = list(attrs.get('strides', [1, 1]))
    if (attrs.get('group', 1) != channels or weight.shape[:2] != (channels, 1) or strides != kernel
            or any(attrs.get('pads', [0] * 4)) or any(d != 1 for d in attrs.get('dilations', [1]))
            or any(attrs.get('output_padding', [0])) or 'output_shape' in attrs
            or attrs.get('auto_pad', b'NOTSET') not in (b'NOTSET', 'NOTSET')):
        return None
    height, width = shape[2], shape[3]
    scales = g.const('ct_scales', np.array([1, 1, kernel[0], kernel[1]], np.float32))
    roi = g.const('ct_roi', np.zeros((0, ), np.float32))
    nodes = []
    n, up = g.node('Resize', [x, roi, scales], 'ct_up', mode='nearest',
                   coordinate_transformation_mode='asymmetric', nearest_mode='floor')
    nodes.append(n)
    tiled = np.tile(weight[:, 0].astype(np.float32), (1, height, width))[None]
    n, y = g.node('Mul', [up, g.const('ct_weight', tiled)], 'ct_mul',
                  outputs=None if bias else [node.output[0]])
    nodes.append(n)
    if bias:
        b = g.const('ct_bias', g.consts[bias].astype(np.float32).reshape(1, channels, 1, 1))
        n, _ = g.node('Add', [y, b], 'ct_bias', outputs=[node.output[0]])
        nodes.append(n)
    return nodes


def _rewrite_gather(g: GraphEditor, node):
    data, index = node.input[:2]
    if index not in g.consts or g.consts[index].ndim != 0 or data not in g.shapes:
        return None
    shape = g.shape(data)
    axis = _attrs(node).get('axis', 0) % len(shape)
    i = int(g.consts[index]) % shape[axis]
    nodes = []
    n, s = g.node('Slice', [
        data, g.const('ga_start', np.array([i], np.int64)),
        g.const('ga_end', np.array([i + 1], np.int64)),
        g.const('ga_axes', np.array([axis], np.int64))], 'ga_slice')
    nodes.append(n)
    n, _ = g.node('Squeeze', [s, g.const('ga_axes', np.array([axis], np.int64))], 'ga_squeeze',
                  outputs=[node.output[0]])
    nodes.append(n)
    return nodes


def _rewrite_erf(g: GraphEditor, node):
    """``erf(x)`` as Eigen's float32 rational approximation (not exact: ~4.5e-7 absolute)."""
    x = node.input[0]
    if g.dtypes.get(x) != 1:
        return None
    num, den = ERF_COEFFICIENTS
    nodes = []
    n, xc = g.node('Clip', [x, g.const('erf_lo', _f32(-4)), g.const('erf_hi', _f32(4))], 'erf_clip')
    nodes.append(n)
    n, x2 = g.node('Mul', [xc, xc], 'erf_x2')
    nodes.append(n)

    def horner(coefficients, hint):
        n, acc = g.node('Mul', [x2, g.const(hint, _f32(coefficients[0]))], hint)
        nodes.append(n)
        for i, c in enumerate(coefficients[1:]):
            n, acc = g.node('Add', [acc, g.const(hint, _f32(c))], hint)
            nodes.append(n)
            if i < len(coefficients) - 2:
                n, acc = g.node('Mul', [acc, x2], hint)
                nodes.append(n)
        return acc

    p = horner(num, 'erf_p')
    n, p = g.node('Mul', [p, xc], 'erf_px')
    nodes.append(n)
    q = horner(den, 'erf_q')
    n, _ = g.node('Div', [p, q], 'erf_div', outputs=[node.output[0]])
    nodes.append(n)
    return nodes


def _fill_empty_inputs(g: GraphEditor, node):
    """Drop trailing empty optional inputs; give ``Resize``'s middle ones as empty constants."""
    inputs = list(node.input)
    while inputs and not inputs[-1]:
        inputs.pop()
    if all(inputs):
        if len(inputs) == len(node.input):
            return None
    elif node.op_type == 'Resize':
        inputs = [name or g.const('resize_empty', np.zeros((0, ), np.float32)) for name in inputs]
    else:
        return None
    new = g.onnx.helper.make_node(node.op_type, inputs, list(node.output), name=node.name,
                                  domain=node.domain)
    new.attribute.extend(node.attribute)
    return [new]


def _bypass(graph, old: str, new: str):
    """Make every consumer of ``old`` read ``new`` (and a graph output named ``old`` keep it)."""
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = new


def _fold_pads(g: GraphEditor) -> None:
    graph = g.model.graph
    consumers: Dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = {o.name for o in graph.output}
    keep = []
    for node in graph.node:
        if node.op_type != 'Pad' or node.output[0] in outputs:
            keep.append(node)
            continue
        attrs = _attrs(node)
        mode = attrs.get('mode', b'constant')
        pads = g.consts.get(node.input[1]) if len(node.input) > 1 else None
        value = g.consts.get(node.input[2]) if len(node.input) > 2 and node.input[2] else 0
        axes_given = len(node.input) > 3 and node.input[3]
        if pads is None or value is None or axes_given:
            keep.append(node)
            continue
        pads = [int(p) for p in pads]
        if not any(pads):
            _bypass(graph, node.output[0], node.input[0])
            g.counter['Pad (zero) removed'] += 1
            continue
        rank = len(pads) // 2
        users = consumers.get(node.output[0], [])
        if (mode in (b'constant', 'constant') and float(np.asarray(value)) == 0 and rank == 4
                and min(pads) >= 0 and not any(pads[:2]) and not any(pads[4:6]) and users
                and all(u.op_type == 'Conv' and u.input[0] == node.output[0]
                        and _attrs(u).get('auto_pad', b'NOTSET') in (b'NOTSET', 'NOTSET')
                        for u in users)):
            for user in users:
                conv_pads = list(_attrs(user).get('pads', [0, 0, 0, 0]))
                merged = [conv_pads[0] + pads[2], conv_pads[1] + pads[3], conv_pads[2] + pads[6],
                          conv_pads[3] + pads[7]]
                for attr in list(user.attribute):
                    if attr.name == 'pads':
                        user.attribute.remove(attr)
                user.attribute.append(g.onnx.helper.make_attribute('pads', merged))
                user.input[0] = node.input[0]
            g.counter['Pad folded into Conv'] += 1
            continue
        keep.append(node)
    del graph.node[:]
    graph.node.extend(keep)


_REWRITES = {
    'HardSigmoid': _rewrite_hardsigmoid,
    'LayerNormalization': _rewrite_layernorm,
    'InstanceNormalization': _rewrite_instancenorm,
    'BatchNormalization': _rewrite_batchnorm,
    'ConvTranspose': _rewrite_convtranspose,
    'Gather': _rewrite_gather,
}


def make_mobile(model, erf: str = 'keep', optimize: bool = True):
    """Return ``(mobile_model, counts)`` for a static-shape ``onnx.ModelProto``.

    Args:
        model: the exported model; its input must have static shapes.
        erf: ``'keep'`` (default, exact) or ``'rational'`` (replace ``Erf`` by the float32
            rational approximation, absolute error up to ~4.5e-7; not exact).
        optimize: run ONNX Runtime's basic optimizer first (folds the shape arithmetic).

    Returns:
        The rewritten model and a ``Counter`` of the rewrites applied (op type -> count).

    Raises:
        MobileRewriteError: a graph input has a dynamic axis, or some value has no static shape
            after folding.
    """
    import onnx
    if erf not in ('keep', 'rational'):
        raise ValueError(f"erf must be 'keep' or 'rational', not {erf!r}.")
    for value in model.graph.input:
        dims = value.type.tensor_type.shape.dim
        if any(not d.HasField('dim_value') for d in dims):
            raise MobileRewriteError(
                f'input {value.name!r} has a dynamic axis: the mobile profile needs a static '
                'export (do not combine --mobile with --dynamic).')
    if optimize:
        model = ort_optimize_model(model, 'basic')
    g = GraphEditor(model, error=MobileRewriteError)
    _fold_pads(g)
    rewrites = dict(_REWRITES)
    if erf == 'rational':
        rewrites['Erf'] = _rewrite_erf
    nodes = []
    for node in g.model.graph.node:
        new = None
        if node.domain in ('', 'ai.onnx'):
            if node.op_type in rewrites:
                new = rewrites[node.op_type](g, node)
                if new is not None:
                    g.counter[node.op_type] += 1
            if new is None:
                new = _fill_empty_inputs(g, node)
                if new is not None:
                    g.counter[f'{node.op_type} (empty inputs)'] += 1
        nodes.extend(new if new is not None else [node])
    graph = g.model.graph
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(
        g.numpy_helper.from_array(array, name) for name, array in g.new_inits.items())
    del graph.value_info[:]
    prune(g.model)
    out = onnx.shape_inference.infer_shapes(g.model, strict_mode=True)
    onnx.checker.check_model(out)
    _check_static(out)
    return out, g.counter


def _check_static(model) -> None:
    known = {i.name for i in model.graph.initializer}
    values = list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output)
    static = {v.name for v in values
              if all(d.HasField('dim_value') for d in v.type.tensor_type.shape.dim)}
    for node in model.graph.node:
        for name in node.input:
            if name and name not in known and name not in static:
                raise MobileRewriteError(
                    f'{node.op_type} node {node.name!r} reads {name!r}, whose shape is not '
                    'static after folding.')


#: ``--mobile`` profiles: ``exact`` (only exact rewrites; ``Erf`` stays) and ``approx-erf``
#: (also the rational ``Erf``, absolute error up to ~4.5e-7).
MOBILE_PROFILES = {'exact': 'keep', 'approx-erf': 'rational'}


def make_mobile_file(path: str, profile: str = 'exact') -> Counter:
    """Rewrite the ONNX file at ``path`` in place with :func:`make_mobile` in ``profile`` (one of
    :data:`MOBILE_PROFILES`); returns the counts of the rewrites."""
    import onnx
    if profile not in MOBILE_PROFILES:
        raise ValueError(f'unknown mobile profile {profile!r}; choose from '
                         f'{sorted(MOBILE_PROFILES)}.')
    model, counts = make_mobile(onnx.load(path), erf=MOBILE_PROFILES[profile])
    onnx.save(model, path)
    return counts


def count_ops(model, ops: Sequence[str]) -> Dict[str, int]:
    """How many nodes of each of ``ops`` the model has."""
    counts = Counter(n.op_type for n in model.graph.node)
    return {op: counts.get(op, 0) for op in ops}
