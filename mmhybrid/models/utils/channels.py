# Copyright (c) mmhybrid contributors. All rights reserved.
"""Check, when a task model is built, that its neck and heads expect what the backbone gives.

A custom ``arch`` (say ``arch='small'`` with the Tiny head's ``in_channels=[128, 128, 128]``)
otherwise fails only at the first forward pass, with a raw convolution error that names
neither setting. :func:`check_feature_channels` runs the backbone once on a tiny zero image
(in eval mode, without gradients, restoring every module's mode afterwards) and compares the
channels of its outputs with the ``in_channels`` of whatever consumes them.
"""
from typing import List, Optional, Sequence

import torch
import torch.nn as nn

#: Side of the zero image used to measure the backbone's output channels.
PROBE_SIZE = 64


def backbone_output_channels(backbone: nn.Module, in_channels: int = 3,
                             size: int = PROBE_SIZE) -> List[int]:
    """Channels of each map ``backbone`` returns for a ``(1, in_channels, size, size)`` input."""
    modes = {module: module.training for module in backbone.modules()}
    param = next(backbone.parameters(), None)
    probe = torch.zeros(1, in_channels, size, size,
                        dtype=param.dtype if param is not None else torch.float32,
                        device=param.device if param is not None else 'cpu')
    backbone.eval()
    try:
        with torch.no_grad():
            outputs = backbone(probe)
    finally:
        for module, training in modes.items():
            module.training = training
    if isinstance(outputs, torch.Tensor):
        outputs = (outputs, )
    return [output.shape[1] for output in outputs]


def describe_backbone(backbone: nn.Module) -> str:
    """``'TopFormer (arch='small')'``: the class and, where it is a preset, the arch name."""
    arch = getattr(backbone, 'arch', None)
    name = arch if isinstance(arch, str) else None
    presets = getattr(backbone, 'arch_settings', {})
    if isinstance(arch, dict):
        name = next((preset_name for preset_name, preset in presets.items()
                     if all(arch.get(key) == value for key, value in preset.items())), None)
    return type(backbone).__name__ + (f' (arch={name!r})' if name else '')


def _selected(channels: Sequence[int], index, key: str) -> List[int]:
    indices = [index] if isinstance(index, int) else list(index)
    for i in indices:
        if not -len(channels) <= i < len(channels):
            raise ValueError(f'{key}={index!r} selects output {i}, but the backbone returns '
                             f'{len(channels)} maps (channels {list(channels)}).')
    return [channels[i] for i in indices]


def _expected_by_decode_head(head: nn.Module, channels: Sequence[int], key: str):
    """(what the head says, what the backbone gives) for an mmseg decode head."""
    index = getattr(head, 'in_index', -1)
    selected = _selected(channels, index, f'{key}.in_index')
    if isinstance(index, int):
        return head.in_channels, selected[0]
    if getattr(head, 'input_transform', None) == 'resize_concat':
        return head.in_channels, sum(selected)
    return list(head.in_channels), selected


def check_feature_channels(model: nn.Module, in_channels: int = 3) -> Optional[List[int]]:
    """Raise ``ValueError`` naming both numbers if the model's parts disagree on channels.

    Checked, where the model has them: ``neck.in_channels`` (FPN-like necks) against every
    backbone output; without such a neck, ``decode_head`` / ``auxiliary_head`` ``in_channels``
    against the outputs their ``in_index`` selects (mmseg), and a classifier ``head.in_channels``
    against the last output (mmpretrain, pooling necks keep channels). Returns the backbone's
    output channels, or ``None`` for a model without a backbone.
    """
    backbone = getattr(model, 'backbone', None)
    if backbone is None:
        return None
    channels = backbone_output_channels(backbone, in_channels)
    described = describe_backbone(backbone)
    problems = []

    neck = getattr(model, 'neck', None)
    neck_in = getattr(neck, 'in_channels', None) if neck is not None else None
    if neck_in is not None:
        expected = [neck_in] if isinstance(neck_in, int) else list(neck_in)
        if expected != channels:
            problems.append(f'model.neck.in_channels={expected}, but the backbone {described} '
                            f'outputs maps with {channels} channels')
    else:
        heads = []
        for key in ('decode_head', 'auxiliary_head'):
            head = getattr(model, key, None)
            if isinstance(head, nn.ModuleList):
                heads += [(f'model.{key}[{i}]', h) for i, h in enumerate(head)]
            elif head is not None:
                heads.append((f'model.{key}', head))
        for key, head in heads:
            if hasattr(head, 'in_channels'):
                said, given = _expected_by_decode_head(head, channels, key)
                if said != given:
                    problems.append(f'{key}.in_channels={said}, but the backbone {described} '
                                    f'gives {given} at in_index={head.in_index}')
        head = getattr(model, 'head', None)
        said = getattr(head, 'in_channels', None) if head is not None else None
        if isinstance(said, int) and not hasattr(model, 'decode_head') and said != channels[-1]:
            problems.append(f'model.head.in_channels={said}, but the last output of the '
                            f'backbone {described} has {channels[-1]} channels')
    if problems:
        raise ValueError('The model config does not fit together: ' + '; '.join(problems) +
                         '. Set the head/neck in_channels to the backbone\'s output channels '
                         '(or choose the backbone arch the head was written for).')
    return channels
