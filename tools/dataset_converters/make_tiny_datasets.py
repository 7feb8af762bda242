# Copyright (c) mmhybrid contributors. All rights reserved.
"""Write tiny synthetic datasets in the layouts of ADE20K, Cityscapes, PASCAL-Context,
COCO-Stuff, COCO and ImageNet, e.g. to try a config end to end without the real data:

    python tools/dataset_converters/make_tiny_datasets.py data/tiny --datasets ade20k coco
    python tools/train.py configs/... --cfg-options \
        train_dataloader.dataset.data_root=data/tiny/ADEChallengeData2016

OUT_DIR must be empty or new, or earlier output of this tool (it lists the files it wrote in
OUT_DIR/.mmhybrid-tiny-datasets.json and may write them again). --overwrite also allows a
folder holding other files, but no file this tool did not write is ever replaced: if one is in
the way, nothing is written and the exit status is 1.

See :mod:`mmhybrid.testing.tiny_datasets` for what the images contain.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))  # a checkout
sys.path.append(osp.dirname(osp.dirname(osp.abspath(__file__))))  # tools/_light_cli.py
from _light_cli import TINY_DATASETS  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('out_dir', help='parent folder of the datasets')
    parser.add_argument(
        '--datasets', nargs='+', choices=list(TINY_DATASETS), default=None,
        help='which datasets to write (default: all)')
    parser.add_argument('--num-train', type=int, default=None, help='training images')
    parser.add_argument('--num-val', type=int, default=None, help='validation images')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--overwrite', action='store_true',
        help='also write into a folder that holds other files (not earlier output of this '
        'tool); files this tool did not write are never replaced')
    return parser.parse_args(argv)


if __name__ == '__main__':
    parse_args()  # --help and usage errors answer before torch and OpenMMLab are imported

from mmhybrid.testing.tiny_datasets import make_all  # noqa: E402


def main(argv=None):
    args = parse_args(argv)
    counts = {k: v for k, v in (('num_train', args.num_train), ('num_val', args.num_val))
              if v is not None}
    try:
        roots = make_all(args.out_dir, names=args.datasets, seed=args.seed,
                         overwrite=args.overwrite, **counts)
    except FileExistsError as exc:
        sys.exit(f'error: {exc}')
    for name, data_root in roots.items():
        print(f'{name:15s} data_root={data_root}')


if __name__ == '__main__':
    main()
