# Copyright (c) mmhybrid contributors. All rights reserved.
"""Convert a TransCNN or HAT-Net checkpoint in the authors' layout to mmhybrid.

Source: the release assets of yun-liu/TransCNN (``TransCNN-{Tiny,Small,Medium,Large}.pth``,
tag v1.0) and yun-liu/HAT-Net (``HAT-Net_{Tiny,Small,Medium,Large}.pth``, tag v2.0), either a
raw state dict or a training checkpoint with the weights under ``model`` (``model_ema`` with
``--ema``, ``state_dict`` also accepted); a DDP ``module.`` prefix is removed.

mmhybrid keeps the authors' module names, so the conversion is a prefix change:

* default (an mmpretrain ``ImageClassifier``): ``X -> backbone.X`` and
  ``classifier.1.* -> head.fc.*``;
* ``--backbone-only`` (for detection/segmentation ``init_cfg``): unprefixed backbone keys, the
  classifier dropped. (The default layout also works there with ``prefix='backbone.'``, which is
  what mmhybrid's configs use.)

The family comes from the weights (TransCNN has the two-branch ``ds2.residual``, HAT-Net the
GroupNorm ``ds2.norm``) and the variant from the widths and depths. Before saving, the result is
loaded with ``strict=True`` into a freshly built model of that variant, so nothing that fails
to map is written.

DST is written atomically (a temporary file in its folder, renamed into place) and never over
SRC; an existing DST is only replaced with ``--force``. Errors end in ``error: <message>`` and
exit status 1.

Example::

    python tools/model_converters/hatnet2mmhybrid.py HAT-Net_Tiny.pth \\
        checkpoints/hatnet-tiny_3rdparty_in1k.pth
    python tools/model_converters/hatnet2mmhybrid.py --backbone-only TransCNN-Small.pth \\
        checkpoints/transcnn-small_backbone.pth
"""
import argparse
import os.path as osp
import re
import sys
from collections import OrderedDict
from typing import Dict, Optional, Sequence, Tuple, Type

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))  # a checkout


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert a TransCNN / HAT-Net checkpoint (authors\' layout) to mmhybrid.')
    parser.add_argument('src', help='checkpoint in the authors\' layout')
    parser.add_argument('dst', help='output .pth path')
    parser.add_argument('--ema', action='store_true',
                        help='convert the "model_ema" weights instead of "model"')
    parser.add_argument('--backbone-only', action='store_true',
                        help='write unprefixed backbone keys and drop the classifier')
    parser.add_argument('--allow-pickle', action='store_true',
                        help='load SRC with weights_only=False (training checkpoints that '
                        'pickle an argparse "args"); only for files you trust')
    parser.add_argument('--force', action='store_true',
                        help='replace an existing DST (never SRC itself)')
    return parser.parse_args(argv)


if __name__ == '__main__':
    parse_args()  # --help and usage errors answer before torch and OpenMMLab are imported

import torch  # noqa: E402

from mmhybrid.models.backbones.hatnet import HATNet, TransCNN  # noqa: E402
from mmhybrid.utils.converters import (  # noqa: E402
    load_source_checkpoint,
    run_converter_cli,
    select_state_dict,
    verify_classifier_weights,
)
from mmhybrid.utils.fileio import atomic_torch_save, check_destination  # noqa: E402

CLASSIFIER_PREFIX = 'classifier.1.'


def infer_model(state: Dict[str, torch.Tensor]) -> Tuple[Type, str]:
    """The backbone class and the preset name that match the weights."""
    if 'ds2.residual.weight' in state:
        cls = TransCNN
    elif 'ds2.norm.weight' in state:
        cls = HATNet
    else:
        raise KeyError('Neither "ds2.residual.weight" (TransCNN) nor "ds2.norm.weight" '
                       '(HAT-Net) found: not a checkpoint in the authors\' layout.')
    try:
        embed_dims = [state['patch_embed.3.weight'].shape[0]] + [
            state[f'ds{i}.conv.weight'].shape[0] for i in range(2, 5)
        ]
    except KeyError as exc:
        raise KeyError(f'Missing {exc}: not a {cls.__name__} state dict in the authors\' '
                       'layout.') from None
    depths = []
    for stage in range(4):
        indices = {int(m.group(1)) for k in state
                   for m in [re.match(rf'blocks\.{stage}\.(\d+)\.', k)] if m}
        depths.append(max(indices) + 1 if indices else 0)
    kernels = [state[f'blocks.{s}.0.conv.conv2.0.weight'].shape[-1] for s in range(4)]
    for name, preset in cls.arch_settings.items():
        if (preset['embed_dims'], preset['depths'], preset['kernel_sizes']) == (
                embed_dims, depths, kernels):
            return cls, name
    raise ValueError(f'No {cls.__name__} preset has embed_dims={embed_dims}, depths={depths}, '
                     f'kernel_sizes={kernels}; presets: {sorted(cls.arch_settings)}. Head sizes '
                     'and pooling ratios leave no trace in the weights, so custom variants '
                     'cannot be converted automatically.')


def convert(state: Dict[str, torch.Tensor],
            backbone_only: bool = False) -> Tuple[OrderedDict, list]:
    """Rename the authors' keys. Returns the new state dict and the dropped keys."""
    converted, dropped = OrderedDict(), []
    for key, value in state.items():
        if key.startswith(CLASSIFIER_PREFIX):
            if backbone_only:
                dropped.append(key)
            else:
                converted['head.fc.' + key[len(CLASSIFIER_PREFIX):]] = value
        else:
            converted[key if backbone_only else 'backbone.' + key] = value
    return converted, dropped


def verify(converted: Dict[str, torch.Tensor], cls: Type, arch: str,
           backbone_only: bool) -> None:
    """Load ``converted`` strictly into a fresh model (and check the classifier's shape)."""
    model = cls(arch)
    verify_classifier_weights(
        model, converted, backbone_only, channels=model.embed_dims[-1],
        description=f'{cls.__name__}({arch!r})', authors_head='classifier.1.weight/bias')


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    check_destination(args.dst, sources=[args.src], force=args.force)

    checkpoint = load_source_checkpoint(args.src, args.allow_pickle)
    state, origin = select_state_dict(checkpoint, ('model', 'state_dict'), 'TransCNN/HAT-Net',
                                      ema=args.ema)
    cls, arch = infer_model(state)
    converted, dropped = convert(state, args.backbone_only)
    verify(converted, cls, arch, args.backbone_only)

    result = dict(meta=dict(source=str(args.src), source_key=origin, model=cls.__name__,
                            arch=arch,
                            layout='backbone' if args.backbone_only else 'ImageClassifier'),
                  state_dict=converted)
    atomic_torch_save(result, args.dst)  # a temporary file renamed into place
    if dropped:
        print(f'Dropped {len(dropped)} classifier keys on request: {", ".join(dropped)}')
    print(f'Converted {len(converted)} tensors from {origin} ({cls.__name__} {arch}) to '
          f'{args.dst}.')
    return result


if __name__ == '__main__':
    sys.exit(run_converter_cli(main))
