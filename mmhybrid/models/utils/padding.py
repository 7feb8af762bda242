# Copyright (c) mmhybrid contributors. All rights reserved.
"""Internal padding so that backbones with fixed window/stride grids accept any input size."""
from typing import Tuple

import torch
import torch.nn.functional as F


def pad_to_multiple(x: torch.Tensor, divisor: int) -> Tuple[torch.Tensor, Tuple[int, int]]:
    """Zero-pad an NCHW tensor at the bottom/right so H and W are multiples of ``divisor``.

    Returns:
        tuple: the padded tensor and ``(pad_h, pad_w)``. When no padding is needed the input
        tensor itself is returned, so the unpadded path is bit-identical.

    While tracing (ONNX export) the pad is always emitted: a Python ``if`` on the export-time
    size would otherwise be frozen into the graph and make dynamic-shape exports wrong at sizes
    that need padding.
    """
    h, w = x.shape[-2:]
    pad_h, pad_w = (-h) % divisor, (-w) % divisor
    if pad_h or pad_w or torch.jit.is_tracing():
        x = F.pad(x, (0, pad_w, 0, pad_h))
    return x, (pad_h, pad_w)


def crop_to(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Crop the bottom/right of an NCHW tensor to ``height`` x ``width`` (no-op if equal)."""
    if x.shape[-2] == height and x.shape[-1] == width and not torch.jit.is_tracing():
        return x
    return x[..., :height, :width]
