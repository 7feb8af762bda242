# Copyright (c) mmhybrid contributors. All rights reserved.
"""Print the effective training recipe of a config, in the terms of docs/en/recipes.md.

Reads the merged config only (nothing is built), so it takes a second: check a run before
spending GPUs on it. Shown: GPUs and total batch (from the name, e.g. ``8xb128``), optimizer,
learning rate per image, epochs or iterations, warm-up, the schedule after it, the train-time
augmentation, batch augmentation, sampler, EMA, test-time resize, what initialises the backbone,
then the raw values of a few keys (paramwise settings, gradient clipping, drop path, norms,
losses). Examples::

    python tools/analysis_tools/print_recipe.py configs/edgevit/edgevit-xxs_8xb256_in1k.py
    python tools/analysis_tools/print_recipe.py configs/hatnet/hatnet-large_8xb128_in1k.py --json
    python tools/analysis_tools/print_recipe.py \\
        configs/trt_vit/retinanet_trt-vit-a_fpn_1x_coco.py \\
        --cfg-options model.backbone.init_cfg=None
"""
import argparse
import json
import os.path as osp
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='config file')
    parser.add_argument('--json', action='store_true', help='print one JSON object only')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='override config settings before reading the recipe, '
                        'e.g. train_dataloader.batch_size=64')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
    from mmengine.config import Config

    from mmhybrid.analysis.recipe import effective_recipe
    from mmhybrid.utils.cli import ConfigOptionsAction

    if not osp.isfile(args.config):
        raise SystemExit(f'error: {args.config} does not exist')
    cfg = Config.fromfile(args.config, import_custom_modules=False)
    if args.cfg_options:
        options = argparse.ArgumentParser()
        options.add_argument('--o', nargs='+', action=ConfigOptionsAction)
        cfg.merge_from_dict(options.parse_args(['--o', *args.cfg_options]).o)
    merged = cfg.to_dict()
    merged['_path'] = args.config
    recipe = effective_recipe(merged)
    if args.json:
        print(json.dumps(recipe, default=str))
    else:
        width = max(len(label) for label in recipe)
        print(f'recipe of {args.config}')
        for label, value in recipe.items():
            if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
                value = ', '.join(value)
            print(f'  {label:<{width}}  {value}')
    return recipe


if __name__ == '__main__':
    main()
