# Copyright (c) mmhybrid contributors. All rights reserved.
"""Shared helpers of the model tests, offered as fixtures (the test folders are not packages).

* ``randomize_batchnorm(module, ...)``: defined in ``tests/conftest.py`` (the function is
  ``randomize_batchnorm_stats`` in ``tests/helpers.py``), so that tests outside this folder use
  the same one.
* ``deterministic_weights(module)``: set every floating-point parameter and buffer to a fixed,
  well-conditioned function of its *name* and element index that does not depend on the torch
  RNG, torch version or registration order (see :func:`set_deterministic_weights`).
* ``deterministic_input(shape)``: a smooth sin/cos image, independent of the RNG.

``tests/test_models/test_golden_outputs.py`` also loads this file by path when run as a script
(``--regenerate``), so the functions must stay importable without pytest fixtures.
"""
import math
import zlib
from typing import Sequence

import pytest
import torch
import torch.nn as nn

_MASK32 = 0xFFFFFFFF


def _hash(index: torch.Tensor) -> torch.Tensor:
    """An integer hash of int64 ``index`` (< 2**32) to float64 values in ``[-1, 1)``.

    Exact int64 arithmetic (every product stays below 2**63), so the values are bit-identical
    on every platform and torch version. Not ``sin(arange * a + b)``: reshaped into a weight
    matrix that sequence has rank 2, which would squeeze every layer's output into a
    two-dimensional subspace.
    """
    h = (index * 2654435761) & _MASK32
    h = h ^ (h >> 16)
    h = (h * 2146121005) & _MASK32  # constants < 2**31 keep h * c < 2**63
    h = h ^ (h >> 15)
    h = (h * 1597334677) & _MASK32
    h = h ^ (h >> 16)
    return h.to(torch.float64) / 2.0**31 - 1.0


_TABLE = torch.empty(0, dtype=torch.float64)
_MAX_OFFSET = 1 << 20


def hash_uniform(numel: int, seed: int) -> torch.Tensor:
    """``numel`` float64 values in ``[-1, 1)``: ``_hash(seed % 2**20 + j)`` for ``j < numel``.

    A pure function of ``(numel, seed)``. The hash is computed once into a table that grows
    as needed, and each tensor takes a slice of it (hashing 80 M parameters per model one by
    one would dominate the test time).
    """
    global _TABLE
    offset = seed % _MAX_OFFSET
    if _TABLE.numel() < offset + numel:
        size = 1 << max(22, (offset + numel - 1).bit_length())
        _TABLE = _hash(torch.arange(size, dtype=torch.int64))
    return _TABLE[offset:offset + numel]


def _name_seed(name: str) -> int:
    return zlib.crc32(name.encode('utf-8'))


@torch.no_grad()
def set_deterministic_weights(module: nn.Module, gain: float = 0.5) -> nn.Module:
    """Overwrite every floating-point parameter and buffer of ``module``, in place.

    The value of each tensor is a function of its state-dict name and shape only:

    * ``running_var``: ``1 + 0.5 u`` (in [0.5, 1.5), positive); ``running_mean``: ``0.1 u``;
    * tensors with >= 2 dims (conv / linear weights): ``gain * u * sqrt(3 / fan_in)``, i.e. a
      standard deviation of ``gain / sqrt(fan_in)`` (``fan_in = numel / shape[0]``, so
      depthwise kernels count only their own taps). ``gain=0.5`` keeps every output of every
      preset arch between ~0.1 and ~30 in scale; at 1.0 the post-norm residual stacks of
      TransCNN grow to ~1e9, where attention saturates;
    * 1-d ``weight`` (norm scales): ``1 + 0.2 u``; other 1-d tensors (biases): ``0.1 u``;
    * any other floating-point tensor (scalars): ``0.5 + 0.1 u``;

    with ``u`` in [-1, 1) from :func:`hash_uniform` seeded by the name's CRC32 (so the values do
    not depend on the order in which modules are registered). Integer buffers
    (``num_batches_tracked``) are left alone. Returns ``module``.
    """
    tensors = dict(module.named_parameters())
    tensors.update(dict(module.named_buffers()))
    for name, tensor in tensors.items():
        if not tensor.is_floating_point():
            continue
        u = hash_uniform(tensor.numel(), _name_seed(name)).reshape(tensor.shape)
        leaf = name.rsplit('.', 1)[-1]
        if leaf == 'running_var':
            value = 1 + 0.5 * u
        elif leaf == 'running_mean':
            value = 0.1 * u
        elif tensor.dim() >= 2:
            fan_in = tensor.numel() // tensor.shape[0]
            value = gain * u * math.sqrt(3.0 / fan_in)
        elif tensor.dim() == 1 and leaf == 'weight':
            value = 1 + 0.2 * u
        elif tensor.dim() == 1:
            value = 0.1 * u
        else:
            value = 0.5 + 0.1 * u
        tensor.copy_(value.to(tensor.dtype))
    return module


def make_deterministic_input(shape: Sequence[int], dtype=torch.float64) -> torch.Tensor:
    """A smooth, RNG-free image batch of ``shape`` ``(B, C, H, W)``, values in about [-1, 1].

    Each sample and channel gets its own frequencies, so batch elements differ.
    """
    batch, channels, height, width = shape
    b = torch.arange(batch, dtype=torch.float64).view(-1, 1, 1, 1)
    c = torch.arange(channels, dtype=torch.float64).view(1, -1, 1, 1)
    y = torch.arange(height, dtype=torch.float64).view(1, 1, -1, 1)
    x = torch.arange(width, dtype=torch.float64).view(1, 1, 1, -1)
    image = (torch.sin(0.31 * y * (1 + 0.1 * c) + 0.7 * b + 0.5 * c) *
             torch.cos(0.23 * x * (1 + 0.05 * b) - 0.3 * c) + 0.1 * torch.sin(0.05 * x * y))
    return image.to(dtype)


@pytest.fixture
def deterministic_weights():
    """The function :func:`set_deterministic_weights`."""
    return set_deterministic_weights


@pytest.fixture
def deterministic_input():
    """The function :func:`make_deterministic_input`."""
    return make_deterministic_input
