# Copyright (c) mmhybrid contributors. All rights reserved.
"""Convert the authors' released TopFormer checkpoints (hustvl/TopFormer) to mmhybrid.

Two kinds of source files are recognised automatically:

* ImageNet classification (``topformer-{T,S,B}-224-*.pth``): a timm-style dict with
  ``state_dict_ema`` (preferred, it is what the reported accuracy was measured with),
  ``state_dict``, ``model``, or a raw state dict. Keys ``tpm.*``/``trans.*`` become
  ``backbone.*`` and ``head.bn.*``/``head.l.*`` stay, i.e. an mmpretrain ``ImageClassifier`` with
  ``TopFormer(mode='global')`` + ``TopFormerClsHead``
  (configs/topformer/topformer-*_8xb128_in1k.py). Use the result as segmentation pre-training with
  ``init_cfg=dict(type='Pretrained', checkpoint=DST, prefix='backbone.')``.
* ADE20K segmentation (``TopFormer-{T,S,B}_512x512_*_160k-*.pth``, mmseg 0.x):
  ``{'meta', 'state_dict', 'optimizer'}`` with ``backbone.*``/``decode_head.*`` keys, i.e. an mmseg
  ``EncoderDecoder`` with ``TopFormer`` + ``TopFormerHead``. Load it with ``load_from=DST`` or
  ``tools/test.py CONFIG DST``.

The authors' pre-release names (``patch_embed``, ``fuse_blocks``, ``to_feat1``, ``to_feat2``,
``fuse2``) and a DDP ``module.`` prefix are accepted; unknown keys are an error, never dropped.

The architecture (T/S/B) is inferred from the token pyramid's widths, and before anything is
written the result is loaded with ``strict=True`` into the matching model: ``TopFormer(arch,
mode='global')`` + ``TopFormerClsHead`` for a classification file, ``TopFormer(arch)`` +
``TopFormerHead`` (``decode_head``) for a segmentation file. A renamed key or a wrongly shaped
tensor is an error naming the keys; nothing is written then. DST is written atomically (a
temporary file in its folder, renamed into place) and never over SRC; an existing DST is only
replaced with ``--force``. Errors end in ``error: <message>`` and exit status 1.

Example::

    python tools/model_converters/topformer2mmhybrid.py \\
        topformer-T-224-66.2.pth checkpoints/topformer-t_3rdparty_in1k.pth --allow-pickle

The conversion itself is :func:`mmhybrid.converters.topformer.convert_file`; this script only
parses the command line.
"""
import argparse
import os.path as osp
import sys
from typing import Optional, Sequence

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))  # a checkout


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
    parser.add_argument('--force', action='store_true',
                        help='replace an existing DST (never SRC itself)')
    return parser.parse_args(argv)


if __name__ == '__main__':
    parse_args()  # --help and usage errors answer before torch and OpenMMLab are imported

from mmhybrid.converters.topformer import convert_file  # noqa: E402
from mmhybrid.utils.converters import run_converter_cli  # noqa: E402


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Parse ``argv`` and run :func:`mmhybrid.converters.topformer.convert_file`; returns what was
    written. Raises on any problem (:func:`run_converter_cli` prints ``error: <message>``)."""
    args = parse_args(argv)
    return convert_file(args.src, args.dst, allow_pickle=args.allow_pickle, force=args.force)


if __name__ == '__main__':
    sys.exit(run_converter_cli(main))
