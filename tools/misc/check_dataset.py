# Copyright (c) mmhybrid contributors. All rights reserved.
"""Check a config's datasets before training: every image and label decodes, labels are valid.

Builds each split's dataset (``{split}_dataloader.dataset``) and decodes every sample's files,
then prints the number of samples per split and every problem, each with the file or folder
(or the config key to fix) and what is wrong: missing or empty folders, missing, empty
(0 bytes), truncated or non-image files, label maps of the wrong size, label values outside
the classes. Exits 0 when nothing is wrong, 1 otherwise. Examples::

    python tools/misc/check_dataset.py configs/topformer/topformer_t_ade20k.py
    python tools/misc/check_dataset.py CONFIG --splits train --max-samples 500
    python tools/misc/check_dataset.py CONFIG \\
        --cfg-options train_dataloader.dataset.data_root=data/x
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))  # a checkout
sys.path.append(osp.dirname(osp.dirname(osp.abspath(__file__))))  # tools/_light_cli.py
from _light_cli import ConfigOptionsAction  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='config file path')
    parser.add_argument('--splits', nargs='+', default=['train', 'val', 'test'],
                        help='dataloaders to check ({split}_dataloader); default: all three')
    parser.add_argument('--max-samples', type=int, default=None, metavar='N',
                        help='check only the first N samples of each dataset')
    parser.add_argument('--no-progress', action='store_true', help='no progress bars')
    parser.add_argument('--cfg-options', nargs='+', action=ConfigOptionsAction,
                        help='override config settings, e.g. '
                        'train_dataloader.dataset.data_root=data/ade/ADEChallengeData2016')
    return parser.parse_args(argv)


if __name__ == '__main__':
    parse_args()  # --help and usage errors answer before torch and OpenMMLab are imported

from mmengine.config import Config  # noqa: E402

from mmhybrid.datasets import check_dataset  # noqa: E402


def main(argv=None) -> int:
    """Check the datasets, print the report; return 0 when clean, 1 otherwise."""
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    report = check_dataset(cfg, splits=args.splits, max_samples=args.max_samples,
                           progress=not args.no_progress)
    print(report.format())
    return 0 if report.ok else 1


if __name__ == '__main__':
    sys.exit(main())
