# Copyright (c) mmhybrid contributors. All rights reserved.
"""How an ONNX file splits between the NNAPI / CoreML execution providers and the CPU.

:func:`check_mobile_usability` runs, in this process, the partition checks of ONNX Runtime's
mobile usability checker (``onnxruntime.tools.mobile_helpers.usability_checker``, the engine of
``python -m onnxruntime.tools.check_onnx_model_mobile_usability``) on the file after ORT's
basic-level optimization, as that command does, and keeps its first analysis per provider
(the shapes as they are).
"""
import logging
import os.path as osp
import pathlib
import tempfile
from dataclasses import dataclass, field
from typing import Dict, List

__all__ = ['EpPartitions', 'MobileUsability', 'MOBILE_EPS', 'check_mobile_usability']

#: Providers checked, with the op table of ``check_coreml_partitions`` (``None``: NNAPI).
MOBILE_EPS = {
    'NNAPI': None,
    'CoreML NeuralNetwork': 'coreml_supported_neuralnetwork_ops.md',
    'CoreML MLProgram': 'coreml_supported_mlprogram_ops.md',
}


@dataclass
class EpPartitions:
    """The checker's estimate for one execution provider."""
    partitions: int
    supported_nodes: int
    total_nodes: int
    unsupported_ops: List[str] = field(default_factory=list)
    dynamic_nodes: int = 0
    verdict: str = ''


@dataclass
class MobileUsability:
    """The checker's estimate, one entry per provider (``'NNAPI'``, ``'CoreML NeuralNetwork'``,
    ``'CoreML MLProgram'``); ``output``: its analysis as the command line logs it."""
    eps: Dict[str, EpPartitions]
    output: str

    def summary(self) -> str:
        parts = []
        for name, ep in self.eps.items():
            blockers = f" (unsupported: {', '.join(ep.unsupported_ops)})" \
                if ep.unsupported_ops else ''
            dynamic = f', {ep.dynamic_nodes} with dynamic shapes' if ep.dynamic_nodes else ''
            parts.append(f'{name}: {ep.partitions} partition(s), {ep.supported_nodes}/'
                         f'{ep.total_nodes} nodes{dynamic}{blockers}, well as is: {ep.verdict}')
        return '; '.join(parts)


class _Lines(logging.Handler):

    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def check_mobile_usability(path: str) -> MobileUsability:
    """The partitions of the ONNX file at ``path`` per provider of :data:`MOBILE_EPS`."""
    from onnxruntime.tools.mobile_helpers import usability_checker as checker
    from onnxruntime.tools.onnx_model_utils import ModelProtoWithShapeInfo, optimize_model
    handler = _Lines()
    logger = logging.getLogger('mmhybrid.deploy.mobile_check')
    logger.propagate, level = False, logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    eps: Dict[str, EpPartitions] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            optimized = pathlib.Path(tmp) / osp.basename(path)
            optimize_model(pathlib.Path(path), optimized, use_external_initializers=True)
            model = ModelProtoWithShapeInfo(optimized).model_with_shape_info
            for name, ops in MOBILE_EPS.items():
                info = checker.check_nnapi_partitions(model, True) if ops is None else \
                    checker.check_coreml_partitions(model, True, ops)
                verdict = info.suitability().name
                logger.info(f'Checking {name}')
                info.print_analysis(logger, name)
                logger.info(f'Model should perform well with {name} as is: {verdict}')
                eps[name] = EpPartitions(
                    info.num_partitions, info.num_supported_nodes, info.num_nodes,
                    sorted(info.unsupported_ops), info.nodes_unsupported_due_to_dynamic_input,
                    verdict)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return MobileUsability(eps, '\n'.join(handler.lines))
