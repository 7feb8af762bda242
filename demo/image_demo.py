# Copyright (c) mmhybrid contributors. All rights reserved.
"""Predict on one image with any mmhybrid model and write the drawing.

The task (classification, segmentation, detection) follows the config's ``default_scope``;
``NAME_OR_CONFIG`` is a metafile name (``python -c "import mmhybrid.apis as a;
print(a.list_models())"``) or a config path.

Examples::

    python demo/image_demo.py demo.jpg topformer_t_ade20k --weights checkpoints/topformer-t.pth
    python demo/image_demo.py demo.jpg configs/edgevit/retinanet_edgevit-xxs_fpn_1x_coco.py \\
        --out-file outputs/det.jpg --score-thr 0.5
    python demo/image_demo.py demo.jpg topformer-t_8xb128_in1k --device cuda

The drawing is written atomically (temporary file, then rename); an existing ``--out-file`` is
kept unless ``--force`` is given.
"""
import argparse
import os.path as osp
import sys
import tempfile
from typing import List, Optional

DEFAULT_OUT_DIR = 'outputs'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    from mmhybrid.utils.cli import ConfigOptionsAction

    parser = argparse.ArgumentParser(
        description='Predict on an image with an mmhybrid model and write the drawing.')
    parser.add_argument('image', help='image file')
    parser.add_argument('model', metavar='NAME_OR_CONFIG',
                        help='metafile name (mmhybrid.apis.list_models()) or config path')
    parser.add_argument('--weights', help='checkpoint path or URL (default: the metafile\'s '
                        'hosted weights if any, else random weights with a warning)')
    parser.add_argument('--out-file', help='where to write the drawing (default: '
                        f'{DEFAULT_OUT_DIR}/<image>_<model>.png)')
    parser.add_argument('--force', action='store_true', help='replace an existing --out-file')
    parser.add_argument('--device', default='cpu', help='cpu, cuda, cuda:1, ...')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='detection: draw boxes scoring at least this')
    parser.add_argument('--cfg-options', nargs='+', action=ConfigOptionsAction,
                        help='override config settings, key=value')
    return parser.parse_args(argv)


def default_out_file(image: str, model: str) -> str:
    """``outputs/<image stem>_<model name or config stem>.png``."""
    image_stem = osp.splitext(osp.basename(image))[0]
    model_stem = osp.splitext(osp.basename(model))[0] if model.endswith('.py') else model
    return osp.join(DEFAULT_OUT_DIR, f'{image_stem}_{model_stem}.png')


def summarise(task: str, prediction, dataset_meta: dict, score_thr: float) -> str:
    """One line describing a prediction of :class:`mmhybrid.apis.Inferencer`."""
    import numpy as np

    classes = list(dataset_meta.get('classes') or [])

    def class_name(index: int) -> str:
        return classes[index] if 0 <= index < len(classes) else str(index)

    if task == 'classification':
        return (f'class {prediction["pred_label"]} '
                f'({prediction.get("pred_class", "?")}), score {prediction["pred_score"]:.3f}')
    if task == 'segmentation':
        labels, counts = np.unique(np.asarray(prediction), return_counts=True)
        order = np.argsort(-counts)[:5]
        shares = ', '.join(f'{class_name(int(labels[i]))} {counts[i] / counts.sum():.0%}'
                           for i in order)
        return f'{len(labels)} classes in the mask; largest: {shares}'
    kept = [(label, score) for label, score in zip(prediction['labels'], prediction['scores'])
            if score >= score_thr]
    listed = ', '.join(f'{class_name(int(label))} {score:.2f}' for label, score in kept[:5])
    return f'{len(kept)} boxes with score >= {score_thr}' + (f': {listed}' if listed else '')


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if not osp.isfile(args.image):
        raise SystemExit(f'Image {args.image} does not exist.')
    out_file = args.out_file or default_out_file(args.image, args.model)

    import cv2
    import mmcv

    from mmhybrid.apis import Inferencer
    from mmhybrid.utils.fileio import atomic_output, check_destination

    if not cv2.haveImageWriter(out_file):
        raise SystemExit(f'--out-file {out_file}: OpenCV cannot write this file type; use '
                         '.png or .jpg.')
    try:  # before building anything: the destination must be free
        check_destination(out_file, sources=[args.image], force=args.force)
    except (FileExistsError, ValueError, IsADirectoryError) as exc:
        raise SystemExit(str(exc)) from None

    from mmhybrid.apis import UnknownModelError
    from mmhybrid.utils.state_dict import CheckpointMismatchError
    try:
        inferencer = Inferencer(args.model, weights=args.weights, device=args.device,
                                cfg_options=args.cfg_options)
    except (UnknownModelError, FileNotFoundError, CheckpointMismatchError) as exc:
        raise SystemExit(f'{type(exc).__name__}: {exc}') from None
    call_kwargs = dict(pred_score_thr=args.score_thr) if inferencer.task == 'detection' else {}
    with tempfile.TemporaryDirectory(prefix='mmhybrid-demo-') as scratch:
        result = inferencer(args.image, out_dir=scratch, **call_kwargs)
        if len(result['out_files']) != 1:
            raise RuntimeError(f'expected one drawing, the inferencer wrote {result["out_files"]}')
        drawing = mmcv.imread(result['out_files'][0])
    ok, encoded = cv2.imencode(osp.splitext(out_file)[1], drawing)
    if not ok:
        raise RuntimeError(f'OpenCV could not encode the drawing for {out_file}.')
    with atomic_output(out_file) as tmp:
        with open(tmp, 'wb') as file:
            file.write(encoded.tobytes())
    summary = summarise(inferencer.task, result['predictions'][0],
                        inferencer.model.dataset_meta, args.score_thr)
    print(f'{inferencer.name} ({inferencer.task}): {summary}')
    print(f'drawing written to {out_file}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
