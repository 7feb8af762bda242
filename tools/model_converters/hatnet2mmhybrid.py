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

The conversion itself is :func:`mmhybrid.converters.hatnet.convert_file`; this script only
parses the command line.
"""
import argparse
import os.path as osp
import sys
from typing import Optional, Sequence

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

from mmhybrid.converters.hatnet import convert_file  # noqa: E402
from mmhybrid.utils.converters import run_converter_cli  # noqa: E402


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Parse ``argv`` and run :func:`mmhybrid.converters.hatnet.convert_file`; returns what was
    written. Raises on any problem (:func:`run_converter_cli` prints ``error: <message>``)."""
    args = parse_args(argv)
    return convert_file(args.src, args.dst, ema=args.ema, backbone_only=args.backbone_only,
                        allow_pickle=args.allow_pickle, force=args.force)


if __name__ == '__main__':
    sys.exit(run_converter_cli(main))
