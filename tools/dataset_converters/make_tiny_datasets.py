# Copyright (c) mmhybrid contributors. All rights reserved.
"""Write tiny synthetic datasets in the layouts of ADE20K, Cityscapes, PASCAL-Context,
COCO-Stuff, COCO and ImageNet, e.g. to try a config end to end without the real data:

    python tools/dataset_converters/make_tiny_datasets.py data/tiny --datasets ade20k coco
    python tools/train.py configs/... --cfg-options \
        train_dataloader.dataset.data_root=data/tiny/ADEChallengeData2016

See :mod:`mmhybrid.testing.tiny_datasets` for what the images contain.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))  # a checkout
from mmhybrid.testing.tiny_datasets import DATASET_MAKERS, make_all  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('out_dir', help='parent folder of the datasets')
    parser.add_argument(
        '--datasets', nargs='+', choices=sorted(DATASET_MAKERS), default=None,
        help='which datasets to write (default: all)')
    parser.add_argument('--num-train', type=int, default=None, help='training images')
    parser.add_argument('--num-val', type=int, default=None, help='validation images')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def main():
    args = parse_args()
    counts = {k: v for k, v in (('num_train', args.num_train), ('num_val', args.num_val))
              if v is not None}
    roots = make_all(args.out_dir, names=args.datasets, seed=args.seed, **counts)
    for name, data_root in roots.items():
        print(f'{name:15s} data_root={data_root}')


if __name__ == '__main__':
    main()
