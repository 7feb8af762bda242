# Copyright (c) mmhybrid contributors. All rights reserved.
"""Convert an EdgeViT checkpoint in the authors' layout (saic-fi/edgevit) to mmhybrid.

The authors' training script saves ``{'model', 'model_ema', 'optimizer', ...}``; raw state dicts
(optionally with a DDP ``module.`` prefix) are accepted too. mmhybrid keeps the authors' module
names (``patch_embed{1..4}``, ``blocks{s}.{i}.LocalAgg`` / ``SelfAttn``, ``attn.LocalProp``), so
the conversion is a prefix change:

* default (an mmpretrain ``ImageClassifier``): ``X -> backbone.X`` (including the final
  BatchNorm ``norm.*``, used by ``EdgeViT(final_norm=True)``) and ``head.* -> head.fc.*``;
* ``--backbone-only`` (for detection/segmentation ``init_cfg``): unprefixed backbone keys; the
  classifier ``head.*`` and, unless ``--keep-final-norm``, the final ``norm.*`` are dropped, and
  the dropped keys are printed.

Before saving, the result is loaded with ``strict=True`` into a freshly built ``EdgeViT`` of the
inferred architecture, so a checkpoint that does not map completely is rejected.

DST is written atomically (a temporary file in its folder, renamed into place) and never over
SRC; an existing DST is only replaced with ``--force``. Errors end in ``error: <message>`` and
exit status 1.

Example::

    python tools/model_converters/edgevit2mmhybrid.py edgevit_xxs.pth edgevit-xxs_in1k.pth
    python tools/model_converters/edgevit2mmhybrid.py --ema --backbone-only \\
        edgevit_xxs.pth edgevit-xxs_backbone.pth
"""
import argparse
import os.path as osp
import re
import sys
from collections import OrderedDict
from typing import Dict, Optional, Sequence, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))  # a checkout


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert an EdgeViT checkpoint (saic-fi/edgevit layout) to mmhybrid.')
    parser.add_argument('src', help='checkpoint in the authors\' layout')
    parser.add_argument('dst', help='output .pth path')
    parser.add_argument('--ema', action='store_true',
                        help='convert the "model_ema" weights instead of "model"')
    parser.add_argument('--backbone-only', action='store_true',
                        help='write unprefixed backbone keys and drop the classifier head '
                        '(for detection/segmentation init_cfg)')
    parser.add_argument('--keep-final-norm', action='store_true',
                        help='with --backbone-only: keep the final BatchNorm "norm.*" for an '
                        'EdgeViT(final_norm=True)')
    parser.add_argument('--allow-pickle', action='store_true',
                        help='load SRC with weights_only=False (training checkpoints that '
                        'pickle an argparse "args"); only for files you trust')
    parser.add_argument('--force', action='store_true',
                        help='replace an existing DST (never SRC itself)')
    return parser.parse_args(argv)


if __name__ == '__main__':
    parse_args()  # --help and usage errors answer before torch and OpenMMLab are imported

import torch  # noqa: E402

from mmhybrid.models.backbones.edgevit import EdgeViT  # noqa: E402
from mmhybrid.utils.converters import (  # noqa: E402
    load_source_checkpoint,
    run_converter_cli,
    select_state_dict,
    verify_classifier_weights,
)
from mmhybrid.utils.fileio import atomic_torch_save, check_destination  # noqa: E402

SOURCE_KEYS = ('model', 'model_ema', 'state_dict')


def infer_arch(state: Dict[str, torch.Tensor]) -> Tuple[dict, Optional[str]]:
    """Depths and widths from the weights; the name of the matching preset, if any.

    Head counts leave no trace in the weights; presets get theirs, a custom architecture gets
    one head per stage (irrelevant for loading, so only used for the strict check).
    """
    try:
        embed_dims = [state[f'patch_embed{i}.proj.weight'].shape[0] for i in range(1, 5)]
    except KeyError as exc:
        raise KeyError(f'Missing {exc}: not an EdgeViT state dict in the authors\' layout.')
    depths = []
    for stage in range(1, 5):
        indices = {int(m.group(1)) for k in state
                   for m in [re.match(rf'blocks{stage}\.(\d+)\.', k)] if m}
        depths.append(max(indices) + 1 if indices else 0)
    sr_ratios = []
    for stage in range(1, 5):
        prop = state.get(f'blocks{stage}.0.SelfAttn.attn.LocalProp.weight')
        sr_ratios.append(prop.shape[-1] if prop is not None else 1)
    mlp_ratios = [state[f'blocks{s}.0.SelfAttn.mlp.fc1.weight'].shape[0] / c
                  for s, c in zip(range(1, 5), embed_dims)]
    mlp_ratios = [int(r) if float(r).is_integer() else r for r in mlp_ratios]
    for name, preset in EdgeViT.arch_settings.items():
        if (preset['depths'], preset['embed_dims'], preset['sr_ratios'],
                preset['mlp_ratios']) == (depths, embed_dims, sr_ratios, mlp_ratios):
            return dict(preset), name
    return dict(depths=depths, embed_dims=embed_dims, num_heads=[1, 1, 1, 1],
                mlp_ratios=mlp_ratios, sr_ratios=sr_ratios), None


def convert(state: Dict[str, torch.Tensor], backbone_only: bool = False,
            keep_final_norm: bool = False) -> Tuple[OrderedDict, list]:
    """Rename the authors' keys. Returns the new state dict and the list of dropped keys."""
    if keep_final_norm and not backbone_only:
        raise ValueError('--keep-final-norm only applies with --backbone-only (the classifier '
                         'layout always keeps the final norm).')
    converted, dropped = OrderedDict(), []
    for key, value in state.items():
        is_head = key.startswith('head.')
        is_final_norm = key.startswith('norm.')
        if backbone_only:
            if is_head or (is_final_norm and not keep_final_norm):
                dropped.append(key)
            else:
                converted[key] = value
        elif is_head:
            converted['head.fc.' + key[len('head.'):]] = value
        else:
            converted['backbone.' + key] = value
    return converted, dropped


def verify(converted: Dict[str, torch.Tensor], arch: dict, backbone_only: bool,
           keep_final_norm: bool) -> None:
    """Load ``converted`` strictly into a fresh ``EdgeViT`` (and check the head's shape)."""
    final_norm = keep_final_norm if backbone_only else True
    verify_classifier_weights(
        EdgeViT(arch, final_norm=final_norm), converted, backbone_only,
        channels=arch['embed_dims'][-1],
        description=f'EdgeViT({arch}, final_norm={final_norm})',
        authors_head='head.weight, head.bias')


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    check_destination(args.dst, sources=[args.src], force=args.force)

    checkpoint = load_source_checkpoint(args.src, args.allow_pickle)
    state, origin = select_state_dict(checkpoint, SOURCE_KEYS, 'EdgeViT', ema=args.ema)
    arch, arch_name = infer_arch(state)
    converted, dropped = convert(state, args.backbone_only, args.keep_final_norm)
    verify(converted, arch, args.backbone_only, args.keep_final_norm)

    result = dict(meta=dict(source=str(args.src), source_key=origin, arch=arch_name or arch,
                            layout='backbone' if args.backbone_only else 'ImageClassifier'),
                  state_dict=converted)
    atomic_torch_save(result, args.dst)  # a temporary file renamed into place
    if dropped:
        print(f'Dropped {len(dropped)} keys on request: {", ".join(dropped)}')
    print(f'Converted {len(converted)} tensors from {origin} (arch: {arch_name or arch}) '
          f'to {args.dst}.')
    return result


if __name__ == '__main__':
    sys.exit(run_converter_cli(main))
