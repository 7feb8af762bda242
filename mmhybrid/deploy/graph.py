# Copyright (c) mmhybrid contributors. All rights reserved.
"""The ONNX graph editor of the deployment passes: the mobile rewrites
(:mod:`mmhybrid.deploy.mobile`) and the int8 passes (:mod:`mmhybrid.deploy.int8_passes`)."""
from collections import Counter, defaultdict
from typing import Any, Dict, List

import numpy as np

__all__ = ['GraphEditError', 'GraphEditor', 'attrs', 'f32', 'prune']


class GraphEditError(RuntimeError):
    """A value the edit needs to know has no static shape."""


class GraphEditor:
    """A small editor over a ``ModelProto``: constants (initializers and ``Constant`` nodes),
    value shapes and dtypes, fresh names, new constants and nodes, producer/consumer maps.

    ``infer_shapes`` (default): the editor works on ONNX's strict shape inference of ``model``
    (a new ``ModelProto``, :attr:`model`); otherwise on ``model`` itself, edited in place.
    ``error``: the exception class raised for a value without a static shape.
    """

    def __init__(self, model, infer_shapes: bool = True, error=GraphEditError):
        import onnx
        from onnx import numpy_helper
        self.onnx, self.numpy_helper, self.error = onnx, numpy_helper, error
        self.model = onnx.shape_inference.infer_shapes(model, strict_mode=True) \
            if infer_shapes else model
        graph = self.model.graph
        self.opset = next(
            (o.version for o in self.model.opset_import if o.domain in ('', 'ai.onnx')), 17)
        self.consts: Dict[str, np.ndarray] = {
            i.name: numpy_helper.to_array(i) for i in graph.initializer}
        self.shapes: Dict[str, List[int]] = {}
        self.dtypes: Dict[str, int] = {}
        for value in list(graph.value_info) + list(graph.input) + list(graph.output):
            ttype = value.type.tensor_type
            self.dtypes[value.name] = ttype.elem_type
            if ttype.HasField('shape'):
                dims = [d.dim_value if d.HasField('dim_value') else None for d in ttype.shape.dim]
                self.shapes[value.name] = dims
        for name, array in self.consts.items():
            self.shapes[name] = list(array.shape)
        for node in graph.node:  # Constant nodes as constants
            if node.op_type == 'Constant' and len(node.attribute) == 1 \
                    and node.attribute[0].name == 'value':
                self.consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        self.new_inits: Dict[str, np.ndarray] = {}
        self.counter = Counter()
        self._uid = 0

    def shape(self, name) -> List[int]:
        dims = self.shapes.get(name)
        if dims is None or any(d is None or d <= 0 for d in dims):
            raise self.error(f'value {name!r} has no static shape ({dims}).')
        return dims

    def fresh(self, hint: str) -> str:
        self._uid += 1
        return f'{hint}_mobile{self._uid}'

    def const(self, hint: str, array) -> str:
        name = self.fresh(hint)
        array = np.asarray(array)
        self.new_inits[name] = array
        self.consts[name] = array
        self.shapes[name] = list(array.shape)
        return name

    def node(self, op, inputs, hint, outputs=None, **attrs):
        outputs = outputs or [self.fresh(hint)]
        return self.onnx.helper.make_node(op, inputs, outputs, name=self.fresh(hint), **attrs), \
            outputs[0]

    def producers(self) -> Dict[str, Any]:
        """Value name -> the node that writes it."""
        return {out: node for node in self.model.graph.node for out in node.output}

    def consumers(self) -> Dict[str, List[Any]]:
        """Value name -> the nodes that read it."""
        users: Dict[str, List[Any]] = defaultdict(list)
        for node in self.model.graph.node:
            for name in node.input:
                users[name].append(node)
        return users

    def drop_unused_initializers(self) -> None:
        """Remove the initializers no node reads."""
        graph = self.model.graph
        used = {name for node in graph.node for name in node.input}
        for init in [i for i in graph.initializer if i.name not in used]:
            graph.initializer.remove(init)


def attrs(node) -> dict:
    import onnx
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def f32(value) -> np.ndarray:
    return np.asarray(value, dtype=np.float32)


def prune(model) -> None:
    """Remove nodes whose outputs nobody reads and initializers nobody uses."""
    graph = model.graph
    needed = {o.name for o in graph.output}
    kept = []
    for node in reversed(list(graph.node)):
        if any(o in needed for o in node.output):
            kept.append(node)
            needed.update(i for i in node.input if i)
    kept.reverse()
    del graph.node[:]
    graph.node.extend(kept)
    inits = [i for i in graph.initializer if i.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(inits)
