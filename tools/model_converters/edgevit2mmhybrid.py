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

The conversion itself is :func:`mmhybrid.converters.edgevit.convert_file`; this script only
parses the command line.
"""
import argparse
import os.path as osp
import sys
from typing import Optional, Sequence

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

from mmhybrid.converters.edgevit import convert_file  # noqa: E402
from mmhybrid.utils.converters import run_converter_cli  # noqa: E402


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Parse ``argv`` and run :func:`mmhybrid.converters.edgevit.convert_file`; returns what was
    written. Raises on any problem (:func:`run_converter_cli` prints ``error: <message>``)."""
    args = parse_args(argv)
    return convert_file(args.src, args.dst, ema=args.ema, backbone_only=args.backbone_only,
                        keep_final_norm=args.keep_final_norm, allow_pickle=args.allow_pickle,
                        force=args.force)


if __name__ == '__main__':
    sys.exit(run_converter_cli(main))
