# Copyright (c) mmhybrid contributors. All rights reserved.
"""Convert the authors' released TopFormer checkpoints (hustvl/TopFormer) to mmhybrid.

The command line is ``tools/model_converters/topformer2mmhybrid.py``, whose docstring describes
the two kinds of source files (ImageNet classification, ADE20K segmentation), the accepted
pre-release names and the layout written. :func:`convert_file` does what it does: load the
authors' file (safe loading unless ``allow_pickle``), rename the keys, infer the architecture
(T/S/B) from the token pyramid's widths, load the result with ``strict=True`` into the matching
model and write it atomically. Everything here raises exceptions;
:func:`mmhybrid.utils.converters.run_converter_cli` turns them into ``error: <message>``.
"""
import os.path as osp
import re
from collections import OrderedDict
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn as nn

from mmhybrid.models.backbones.topformer import TopFormer
from mmhybrid.utils.converters import load_source_checkpoint
from mmhybrid.utils.fileio import atomic_torch_save, check_destination

#: The authors renamed these modules before release (their tools/convert_state_dict.py).
LEGACY_NAMES = {
    'patch_embed': 'tpm',
    'fuse_blocks': 'SIM',
    'to_feat1': 'local_embedding',
    'to_feat2': 'global_embedding',
    'fuse2': 'global_act',
}
#: Order in which wrappers are searched for the weights of an ImageNet file.
IMAGENET_WRAPPER_KEYS = ('state_dict_ema', 'state_dict', 'model')
BACKBONE_ROOTS = ('tpm', 'trans', 'SIM')
SEG_ROOTS = ('backbone', 'decode_head', 'auxiliary_head')


def rename_legacy(key: str) -> str:
    """Map the authors' pre-release module names to the released ones, part by part."""
    return '.'.join(LEGACY_NAMES.get(part, part) for part in key.split('.'))


def unwrap(checkpoint: dict) -> Tuple[Dict[str, torch.Tensor], str]:
    """Return the state dict inside ``checkpoint`` and the wrapper key it came from."""
    for key in IMAGENET_WRAPPER_KEYS:
        if isinstance(checkpoint.get(key), dict):
            return checkpoint[key], key
    if checkpoint and all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        return checkpoint, 'raw'
    raise ValueError('Cannot find the weights: expected one of '
                     f'{list(IMAGENET_WRAPPER_KEYS)} or a raw state dict, got top-level keys '
                     f'{sorted(checkpoint)[:10]}')


def convert(checkpoint: dict) -> Tuple['OrderedDict[str, torch.Tensor]', str]:
    """Convert an authors' checkpoint (already loaded) into an mmhybrid state dict.

    Returns:
        tuple: the converted state dict and its kind, ``'classification'`` or ``'segmentation'``.
    """
    state_dict, _ = unwrap(checkpoint)
    keys = OrderedDict()
    for key, value in state_dict.items():
        if key.startswith('module.'):
            key = key[len('module.'):]
        keys[rename_legacy(key)] = value
    is_segmentor = any(k.split('.', 1)[0] in SEG_ROOTS for k in keys)
    converted = OrderedDict()
    unknown = []
    for key, value in keys.items():
        root = key.split('.', 1)[0]
        if is_segmentor:
            if root not in SEG_ROOTS:
                unknown.append(key)
            converted[key] = value
        elif root in BACKBONE_ROOTS:
            converted[f'backbone.{key}'] = value
        elif key.startswith(('head.bn.', 'head.l.')):
            converted[key] = value
        else:
            unknown.append(key)
    if unknown:
        raise KeyError(f'{len(unknown)} keys do not belong to a TopFormer '
                       f'{"segmentor" if is_segmentor else "classifier"}: {unknown[:8]}')
    return converted, 'segmentation' if is_segmentor else 'classification'


def pyramid_widths(backbone_state: Dict[str, torch.Tensor]) -> List[int]:
    """Output channels of each token-pyramid layer ``tpm.layer{i}`` (its last conv)."""
    last_convs = {}
    for key, value in backbone_state.items():
        match = re.fullmatch(r'tpm\.layer(\d+)\.conv\.(\d+)\.c\.weight', key)
        if match:
            layer, position = int(match.group(1)), int(match.group(2))
            if position >= last_convs.get(layer, (-1, None))[0]:
                last_convs[layer] = (position, value.shape[0])
    return [last_convs[layer][1] if layer in last_convs else 0
            for layer in range(1, max(last_convs, default=0) + 1)]


def infer_arch(backbone_state: Dict[str, torch.Tensor]) -> str:
    """The preset (``'tiny'``, ``'small'``, ``'base'``) whose token pyramid has these widths.

    Raises:
        ValueError: no preset matches; the message gives the widths found.
    """
    widths = pyramid_widths(backbone_state)
    presets = {name: [row[2] for row in setting['layer_cfgs']]
               for name, setting in TopFormer.arch_settings.items()}
    for name, preset_widths in presets.items():
        if widths == preset_widths:
            return name
    raise ValueError(f'Unknown TopFormer architecture: the token pyramid has {len(widths)} '
                     f'layers with output channels {widths} (0: no tpm.layer<i>.conv.<j>.c.weight '
                     f'found); the presets have {presets}.')


def _load_strictly(module: nn.Module, state: Dict[str, torch.Tensor], prefix: str,
                   description: str) -> None:
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise RuntimeError(f'The converted weights do not match {description} (keys below are '
                           f'relative to "{prefix}"):\n{exc}') from None


def _split(state: Dict[str, torch.Tensor], prefix: str) -> Dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def verify(converted: Dict[str, torch.Tensor], kind: str) -> str:
    """Load ``converted`` with ``strict=True`` into the matching mmhybrid model.

    Classification: ``TopFormer(arch, mode='global')`` (``backbone.*``) and
    ``TopFormerClsHead`` (``head.*``), as in ``configs/topformer/topformer-*_8xb128_in1k.py``.
    Segmentation: ``TopFormer(arch)`` (``backbone.*``) and ``TopFormerHead`` (``decode_head.*``,
    the fuse conv depthwise when the weights say so), as in
    ``configs/topformer/topformer_*_ade20k.py``. The number of classes is read from the weights.

    Returns:
        str: the architecture, ``'tiny'``, ``'small'`` or ``'base'``.

    Raises:
        ValueError: unknown architecture; RuntimeError: keys or shapes that do not match.
    """
    backbone_state = _split(converted, 'backbone.')
    arch = infer_arch(backbone_state)
    mode = 'global' if kind == 'classification' else 'dense'
    backbone = TopFormer(arch, mode=mode)
    _load_strictly(backbone, backbone_state, 'backbone.',
                   f'TopFormer({arch!r}, mode={mode!r})')
    if kind == 'classification':
        from mmhybrid.models.heads.topformer_cls_head import TopFormerClsHead
        head_state = _split(converted, 'head.')
        if 'l.weight' not in head_state:
            raise RuntimeError('A classification checkpoint needs the classifier head.l.weight '
                               f'(TopFormerClsHead); found head keys {sorted(head_state)}.')
        head = TopFormerClsHead(num_classes=head_state['l.weight'].shape[0],
                                in_channels=backbone.embed_dims)
        _load_strictly(head, head_state, 'head.',
                       f'TopFormerClsHead(in_channels={backbone.embed_dims})')
        return arch
    auxiliary = [k for k in converted if k.startswith('auxiliary_head.')]
    if auxiliary:
        raise RuntimeError(f'{len(auxiliary)} auxiliary_head keys (e.g. {auxiliary[0]}): '
                           'mmhybrid\'s TopFormer segmentors have no auxiliary head, so these '
                           'weights cannot be loaded strictly.')
    from mmhybrid.models.decode_heads.topformer_head import TopFormerHead
    head_state = _split(converted, 'decode_head.')
    for required in ('linear_fuse.conv.weight', 'conv_seg.weight'):
        if required not in head_state:
            raise RuntimeError(f'A segmentation checkpoint needs decode_head.{required} '
                               f'(TopFormerHead); found decode_head keys {sorted(head_state)[:8]}.')
    channels = backbone.injection_channels[-1]
    depthwise = head_state['linear_fuse.conv.weight'].shape[1] == 1 and channels > 1
    num_classes = head_state['conv_seg.weight'].shape[0]
    head = TopFormerHead([channels] * 3, channels, depthwise_fuse=depthwise,
                         num_classes=num_classes, norm_cfg=dict(type='BN'))
    _load_strictly(head, head_state, 'decode_head.',
                   f'TopFormerHead(channels={channels}, depthwise_fuse={depthwise}, '
                   f'num_classes={num_classes})')
    return arch


def convert_meta(meta: Optional[dict], src: str, kind: str) -> dict:
    """Keep the useful part of an mmseg 0.x ``meta`` in the mmseg 1.x layout."""
    new_meta = dict(converted_from=osp.basename(src), converter='topformer2mmhybrid', task=kind)
    meta = meta if isinstance(meta, dict) else {}
    if meta.get('CLASSES') is not None:
        new_meta['dataset_meta'] = dict(classes=tuple(meta['CLASSES']))
        if meta.get('PALETTE') is not None:
            new_meta['dataset_meta']['palette'] = [list(c) for c in meta['PALETTE']]
    return new_meta


def convert_file(src: str, dst: str, allow_pickle: bool = False, force: bool = False,
                 log: Callable[[str], None] = print) -> dict:
    """Convert the authors' file ``src``, verify it strictly, write ``dst`` atomically.

    Args:
        allow_pickle: load ``src`` with ``weights_only=False`` (the authors' ImageNet files
            pickle an argparse ``Namespace``); only for trusted files.
        force: replace an existing ``dst`` (never ``src`` itself).
        log: receives the one-line summary.

    Returns:
        dict: what was written, ``{'meta', 'state_dict'}`` (``meta['arch']``: the variant).
    """
    check_destination(dst, sources=[src], force=force)
    checkpoint = load_source_checkpoint(src, allow_pickle)
    state_dict, kind = convert(checkpoint)
    arch = verify(state_dict, kind)
    meta = convert_meta(checkpoint.get('meta'), src, kind)
    meta['arch'] = arch
    result = dict(meta=meta, state_dict=state_dict)
    atomic_torch_save(result, dst)  # a temporary file renamed into place
    log(f'{kind} checkpoint (TopFormer {arch}) with {len(state_dict)} tensors written to {dst}')
    return result
