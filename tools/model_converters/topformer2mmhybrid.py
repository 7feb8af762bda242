# Copyright (c) mmhybrid contributors. All rights reserved.
"""Convert the authors' released TopFormer checkpoints (hustvl/TopFormer) to mmhybrid.

Two kinds of source files are recognised automatically:

* ImageNet classification (``topformer-{T,S,B}-224-*.pth``): a timm-style dict with
  ``state_dict_ema`` (preferred, it is what the reported accuracy was measured with),
  ``state_dict``, ``model``, or a raw state dict. Keys ``tpm.*``/``trans.*`` become
  ``backbone.*`` and ``head.bn.*``/``head.l.*`` stay, i.e. an mmpretrain ``ImageClassifier`` with
  ``TopFormer(mode='global')`` + ``TopFormerClsHead`` (configs/topformer/topformer-*_8xb128_in1k.py).
  Use the result as segmentation pre-training with
  ``init_cfg=dict(type='Pretrained', checkpoint=DST, prefix='backbone.')``.
* ADE20K segmentation (``TopFormer-{T,S,B}_512x512_*_160k-*.pth``, mmseg 0.x):
  ``{'meta', 'state_dict', 'optimizer'}`` with ``backbone.*``/``decode_head.*`` keys, i.e. an mmseg
  ``EncoderDecoder`` with ``TopFormer`` + ``TopFormerHead``. Load it with ``load_from=DST`` or
  ``tools/test.py CONFIG DST``.

The authors' pre-release names (``patch_embed``, ``fuse_blocks``, ``to_feat1``, ``to_feat2``,
``fuse2``) and a DDP ``module.`` prefix are accepted. The output ``{'meta', 'state_dict'}`` loads
into the matching mmhybrid model with ``strict=True``; unknown keys are an error, never dropped.

Example::

    python tools/model_converters/topformer2mmhybrid.py \\
        topformer-T-224-66.2.pth checkpoints/topformer-t_3rdparty_in1k.pth --allow-pickle
"""
import argparse
import os.path as osp
import sys
from collections import OrderedDict
from typing import Dict, Optional, Sequence, Tuple

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))  # a checkout
from mmhybrid.utils.converters import load_source_checkpoint  # noqa: E402

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


def convert_meta(meta: Optional[dict], src: str, kind: str) -> dict:
    """Keep the useful part of an mmseg 0.x ``meta`` in the mmseg 1.x layout."""
    new_meta = dict(converted_from=osp.basename(src), converter='topformer2mmhybrid', task=kind)
    meta = meta if isinstance(meta, dict) else {}
    if meta.get('CLASSES') is not None:
        new_meta['dataset_meta'] = dict(classes=tuple(meta['CLASSES']))
        if meta.get('PALETTE') is not None:
            new_meta['dataset_meta']['palette'] = [list(c) for c in meta['PALETTE']]
    return new_meta


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert an official TopFormer checkpoint (ImageNet or ADE20K) to mmhybrid.')
    parser.add_argument('src', help='the authors\' .pth file')
    parser.add_argument('dst', help='where to write the mmhybrid checkpoint')
    parser.add_argument(
        '--allow-pickle', action='store_true',
        help='load SRC with weights_only=False. The authors\' ImageNet files pickle an argparse '
        'Namespace (timm "args"), which the safe loader refuses; only use this for files you '
        'trust.')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    checkpoint = load_source_checkpoint(args.src, args.allow_pickle)
    state_dict, kind = convert(checkpoint)
    meta = convert_meta(checkpoint.get('meta'), args.src, kind)
    torch.save(dict(meta=meta, state_dict=state_dict), args.dst)
    print(f'{kind} checkpoint with {len(state_dict)} tensors written to {args.dst}')


if __name__ == '__main__':
    main()
