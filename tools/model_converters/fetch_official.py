# Copyright (c) mmhybrid contributors. All rights reserved.
"""Fetch the authors' released checkpoint NAME, convert it and write what the configs expect.

NAME is a metafile model name (``--list`` prints them all, with their status):

* ``downloadable`` (TransCNN, HAT-Net: GitHub releases): downloaded to
  ``<dest>/.<NAME>.download`` (a progress bar on stderr; an interrupted download resumes with an
  HTTP Range request when the command is run again), its sha256 checked where the authors
  publish one (else printed), converted with ``tools/model_converters/*2mmhybrid.py``, loaded
  with ``strict=True`` into the model of the config and run once (finite outputs), then moved
  atomically to ``<dest>/<file the configs expect>``, e.g.
  ``checkpoints/hatnet-tiny_3rdparty_in1k.pth``;
* ``browser-only`` (TopFormer: Google Drive / Baidu Pan): prints the URL, where to save the file
  and the command that converts it, and exits 1. Download it in a browser, save it where the
  message says and run the command again (or pass ``--source-file PATH``);
* ``no released weights`` (EdgeViT, TRT-ViT): says so and names the training command.

An existing output is only replaced with ``--force``. Errors print ``error: <message>`` and exit
with status 1. ``MMHYBRID_OFFICIAL_WEIGHTS_MIRROR=<url>`` downloads every file from
``<url>/<authors' file name>`` instead (a local mirror). Examples::

    python tools/model_converters/fetch_official.py --list
    python tools/model_converters/fetch_official.py hatnet-tiny_8xb128_in1k
    python tools/model_converters/fetch_official.py topformer-t_8xb128_in1k \\
        --source-file ~/Downloads/topformer-T-224-66.2.pth

The work is :func:`mmhybrid.apis.official_weights.run_fetch_official`; this script only parses
the command line.
"""
import argparse
import os.path as osp
import sys
from typing import Optional, Sequence

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))  # a checkout


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Fetch, convert and verify an official (authors\') checkpoint.',
        epilog='Run with --list to see every NAME and whether it can be fetched.')
    parser.add_argument('name', nargs='?', help='metafile model name, e.g. '
                        'hatnet-tiny_8xb128_in1k or topformer_t_ade20k')
    parser.add_argument('--list', action='store_true',
                        help='print every known NAME with its status and output file')
    parser.add_argument('--dest', default='checkpoints',
                        help='folder of the converted file (default: checkpoints, where the '
                        'configs look)')
    parser.add_argument('--force', action='store_true',
                        help='replace an existing converted file')
    parser.add_argument('--source-file', help='convert this already downloaded authors\' file '
                        'instead of downloading it')
    parser.add_argument('--keep-download', action='store_true',
                        help='keep the authors\' downloaded file after converting it')
    parser.add_argument('--allow-pickle', action='store_true',
                        help='let the converter load pickles beyond tensors (only for files '
                        'you trust; already on for the files known to need it)')
    parser.add_argument('--attempts', type=int, default=3,
                        help='download attempts, each resuming the previous one (default 3)')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    args = parser.parse_args(argv)
    if not args.list and not args.name:
        parser.error('give a NAME, or --list to see them')
    return args


if __name__ == '__main__':
    parse_args()  # --help and usage errors answer before torch and OpenMMLab are imported

from mmhybrid.apis.official_weights import run_fetch_official  # noqa: E402
from mmhybrid.utils.converters import run_converter_cli  # noqa: E402


def main(argv: Optional[Sequence[str]] = None) -> str:
    """Parse ``argv`` and run :func:`mmhybrid.apis.official_weights.run_fetch_official`; returns
    the converted file's path (``''`` for ``--list``). Raises on any problem (see :func:`cli`)."""
    args = parse_args(argv)
    return run_fetch_official(args.name, list_names=args.list, dest=args.dest, force=args.force,
                              source_file=args.source_file, keep_download=args.keep_download,
                              allow_pickle=args.allow_pickle, attempts=args.attempts,
                              progress=not args.no_progress)


def cli(argv: Optional[Sequence[str]] = None) -> int:
    """``main`` with expected failures printed as ``error: <message>`` (exit status 1)."""
    return run_converter_cli(main, argv)


if __name__ == '__main__':
    sys.exit(cli())
