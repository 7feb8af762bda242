# Copyright (c) mmhybrid contributors. All rights reserved.
"""The --mobile ONNX profile: every rewrite is exact (onnxruntime parity on tiny graphs) and the
TopFormer-T segmentor lands in one NNAPI / CoreML partition."""
import importlib.util
import math
import os
import os.path as osp

import numpy as np
import pytest

onnx = pytest.importorskip('onnx')
ort = pytest.importorskip('onnxruntime')
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from mmhybrid.deploy import mobile as mobile_onnx  # noqa: E402
from mmhybrid.deploy.mobile import MobileRewriteError, count_ops, make_mobile  # noqa: E402
from mmhybrid.deploy.mobile_check import check_mobile_usability  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
RNG = np.random.RandomState(0)


def _model(nodes, in_shape, out_shape, inits=()):
    graph = helper.make_graph(
        nodes, 'g', [helper.make_tensor_value_info('x', TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info('y', TensorProto.FLOAT, out_shape)],
        [numpy_helper.from_array(np.asarray(a), n) for n, a in inits])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)])


def _run(model, x):
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=['CPUExecutionProvider'])
    return session.run(None, {'x': x})[0]


def _check(model, in_shape, gone, atol=0., rtol=1e-6, scale=3.):
    x = (RNG.randn(*in_shape) * scale).astype(np.float32)
    mobile, counts = make_mobile(model, optimize=False)
    assert not any(count_ops(mobile, [gone]).values()), counts
    expected, got = _run(model, x), _run(mobile, x)
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)
    return mobile, got, expected


def test_hardsigmoid_is_clip_arithmetic():
    model = _model([helper.make_node('HardSigmoid', ['x'], ['y'], alpha=1 / 6, beta=0.5)],
                   [2, 8, 5, 5], [2, 8, 5, 5])
    mobile, got, expected = _check(model, [2, 8, 5, 5], 'HardSigmoid', atol=1e-7, rtol=0)
    assert {n.op_type for n in mobile.graph.node} == {'Mul', 'Add', 'Clip'}


@pytest.mark.parametrize('axis,shape', [(-1, [2, 7, 36]), (-1, [1, 4, 5, 24]), (2, [2, 3, 4, 6])])
def test_layernorm_decomposed(axis, shape):
    norm = shape[axis:] if axis >= 0 else shape[axis:]
    inits = [('s', RNG.rand(*norm).astype(np.float32) + .5),
             ('b', RNG.randn(*norm).astype(np.float32))]
    model = _model([helper.make_node('LayerNormalization', ['x', 's', 'b'], ['y'], axis=axis,
                                     epsilon=1e-6)], shape, shape, inits)
    mobile, _, _ = _check(model, shape, 'LayerNormalization', atol=2e-6, rtol=2e-6)
    assert not {'ReduceMean', 'LayerNormalization'} & {n.op_type for n in mobile.graph.node}


@pytest.mark.parametrize('shape', [[2, 1, 300], [1, 6, 5, 7]])
def test_instancenorm_decomposed(shape):
    channels = shape[1]
    inits = [('s', RNG.rand(channels).astype(np.float32) + .5),
             ('b', RNG.randn(channels).astype(np.float32))]
    model = _model([helper.make_node('InstanceNormalization', ['x', 's', 'b'], ['y'],
                                     epsilon=1e-6)], shape, shape, inits)
    _check(model, shape, 'InstanceNormalization', atol=2e-6, rtol=2e-6)


def test_batchnorm_to_mul_add():
    c = 8
    inits = [('g', RNG.rand(c).astype(np.float32) + .5), ('b', RNG.randn(c).astype(np.float32)),
             ('m', RNG.randn(c).astype(np.float32)), ('v', RNG.rand(c).astype(np.float32) + .1)]
    model = _model([helper.make_node('BatchNormalization', ['x', 'g', 'b', 'm', 'v'], ['y'])],
                   [2, c, 3, 3], [2, c, 3, 3], inits)
    _check(model, [2, c, 3, 3], 'BatchNormalization', atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize('k', [2, 4])
def test_depthwise_convtranspose_is_resize_mul_add(k):
    c = 6
    inits = [('w', RNG.randn(c, 1, k, k).astype(np.float32)),
             ('bias', RNG.randn(c).astype(np.float32))]
    model = _model([helper.make_node('ConvTranspose', ['x', 'w', 'bias'], ['y'], group=c,
                                     kernel_shape=[k, k], strides=[k, k], pads=[0, 0, 0, 0])],
                   [1, c, 3, 5], [1, c, 3 * k, 5 * k], inits)
    mobile, got, expected = _check(model, [1, c, 3, 5], 'ConvTranspose', atol=1e-6, rtol=0)
    assert 'Resize' in {n.op_type for n in mobile.graph.node}


def test_convtranspose_not_depthwise_kept():
    inits = [('w', RNG.randn(4, 2, 3, 3).astype(np.float32))]
    model = _model([helper.make_node('ConvTranspose', ['x', 'w'], ['y'], strides=[2, 2])],
                   [1, 4, 3, 3], [1, 2, 7, 7], inits)
    mobile, _ = make_mobile(model, optimize=False)
    assert count_ops(mobile, ['ConvTranspose'])['ConvTranspose'] == 1


def test_gather_scalar_is_slice_squeeze():
    model = _model([helper.make_node('Gather', ['x', 'i'], ['y'], axis=1)], [2, 3, 4], [2, 4],
                   [('i', np.array(-1, np.int64))])
    _check(model, [2, 3, 4], 'Gather', rtol=0)


def test_pads_removed_or_folded_into_conv():
    zero = _model([helper.make_node('Pad', ['x', 'p'], ['t']),
                   helper.make_node('Relu', ['t'], ['y'])], [1, 2, 4, 4], [1, 2, 4, 4],
                  [('p', np.zeros(8, np.int64))])
    _check(zero, [1, 2, 4, 4], 'Pad', rtol=0)
    conv = _model([helper.make_node('Pad', ['x', 'p', ''], ['t']),
                   helper.make_node('Conv', ['t', 'w'], ['y'], kernel_shape=[3, 3])],
                  [1, 2, 5, 6], [1, 3, 5, 7],
                  [('p', np.array([0, 0, 1, 2, 0, 0, 1, 1], np.int64)),
                   ('w', RNG.randn(3, 2, 3, 3).astype(np.float32))])
    _check(conv, [1, 2, 5, 6], 'Pad', atol=1e-6, rtol=1e-6)


def test_resize_empty_inputs_become_constants():
    model = _model([helper.make_node('Resize', ['x', '', '', 'sz'], ['y'], mode='linear')],
                   [1, 2, 4, 4], [1, 2, 7, 9], [('sz', np.array([1, 2, 7, 9], np.int64))])
    mobile, _, _ = _check(model, [1, 2, 4, 4], 'HardSigmoid', rtol=0, atol=0)
    assert all(all(n.input) for n in mobile.graph.node)


def test_erf_rational_is_close_but_opt_in():
    model = _model([helper.make_node('Erf', ['x'], ['y'])], [4001], [4001])
    assert count_ops(make_mobile(model, optimize=False)[0], ['Erf'])['Erf'] == 1
    mobile, counts = make_mobile(model, erf='rational', optimize=False)
    assert counts['Erf'] == 1 and count_ops(mobile, ['Erf'])['Erf'] == 0
    x = np.linspace(-6, 6, 4001).astype(np.float32)
    reference = np.array([math.erf(float(v)) for v in x])
    assert np.abs(_run(mobile, x) - reference).max() < 5e-7


def test_dynamic_input_refused():
    model = _model([helper.make_node('Relu', ['x'], ['y'])], ['n', 3], ['n', 3])
    with pytest.raises(MobileRewriteError, match='dynamic'):
        make_mobile(model)


def test_checker_counts_partitions_in_process(tmp_path):
    """ORT's partition checks, called in this process: a HardSigmoid between two ReLUs splits
    NNAPI and CoreML NeuralNetwork (no HardSigmoid) in two; CoreML MLProgram runs all three."""
    nodes = [helper.make_node('Relu', ['x'], ['a']), helper.make_node('HardSigmoid', ['a'], ['b']),
             helper.make_node('Relu', ['b'], ['y'])]
    path = str(tmp_path / 'm.onnx')
    onnx.save(_model(nodes, [1, 3, 8, 8], [1, 3, 8, 8]), path)
    usability = check_mobile_usability(path)
    nnapi = usability.eps['NNAPI']
    assert (nnapi.partitions, nnapi.supported_nodes, nnapi.total_nodes) == (2, 2, 3)
    assert nnapi.unsupported_ops == ['ai.onnx:HardSigmoid'] and nnapi.dynamic_nodes == 0
    assert nnapi.verdict == 'NO' and usability.eps['CoreML MLProgram'].verdict == 'YES'
    assert '2 partitions with a total of 2/3 nodes can be handled by the NNAPI EP.' in \
        usability.output
    assert os.listdir(tmp_path) == ['m.onnx']


def _tool():
    spec = importlib.util.spec_from_file_location(
        'pytorch2onnx_mobile', osp.join(ROOT, 'tools', 'deployment', 'pytorch2onnx.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TOPFORMER = osp.join(ROOT, 'configs', 'topformer', 'topformer_t_ade20k.py')


def test_topformer_t_mobile_one_partition(tmp_path, capsys):
    out = tmp_path / 'topformer-t.onnx'
    assert _tool().main([TOPFORMER, str(out), '--shape', '128', '128', '--mobile']) == 0
    printed = capsys.readouterr().out
    assert 'mobile checker:' in printed
    model = onnx.load(str(out))
    assert count_ops(model, ['HardSigmoid'])['HardSigmoid'] == 0
    usability = check_mobile_usability(str(out))
    for ep in ('NNAPI', 'CoreML NeuralNetwork', 'CoreML MLProgram'):
        assert usability.eps[ep].partitions == 1, usability.summary()
        assert usability.eps[ep].supported_nodes == usability.eps[ep].total_nodes
    assert os.listdir(tmp_path) == ['topformer-t.onnx']


def test_mobile_failure_leaves_nothing(tmp_path, monkeypatch, capsys):
    tool = _tool()
    out = tmp_path / 'x.onnx'

    def broken(model, erf='keep', optimize=True):
        raise MobileRewriteError('boom')

    monkeypatch.setattr(mobile_onnx, 'make_mobile', broken)
    assert tool.main([TOPFORMER, str(out), '--shape', '64', '64', '--mobile']) == 1
    assert 'FAILED' in capsys.readouterr().err and os.listdir(tmp_path) == []
    assert tool.main([TOPFORMER, str(out), '--shape', '64', '64', '--mobile', '--dynamic']) == 1
    assert os.listdir(tmp_path) == []
