# Copyright (c) mmhybrid contributors. All rights reserved.
"""Export a config's model (or its backbone) to ONNX and check it against PyTorch.

What is exported (:mod:`mmhybrid.tasks.task_model`): classifiers in tensor mode (images ->
logits), segmentors as the whole ``EncoderDecoder`` in tensor mode (images -> decode-head
logits), detectors as backbone + neck (their heads end in NMS); ``--part backbone`` exports
just the backbone of any config. The model is folded first with ``switch_to_deploy`` unless
``--no-deploy``. After export the file is run in onnxruntime and every output must match
PyTorch within ``--rtol`` (relative: max |diff| / max |reference|, default 1e-4); with
``--dynamic`` also at two more input sizes, batch 2 at H + 48 by W + 80 and batch 1 at H + 24 by
W + 40: the three sizes' remainders modulo 32 and 64 differ pairwise, so padding amounts or
resize sizes frozen into the graph are caught
(:func:`mmhybrid.deploy.export.dynamic_check_sizes`). Whole models export dynamically for
every family (segmentors, classifiers, detectors' backbone + neck); a module holding an operator
that ONNX cannot express with a dynamic height/width (adaptive pooling to a size other than 1)
is refused before exporting, with a message naming it
(:func:`mmhybrid.deploy.export.dynamic_export_blockers`).

The file is written under a temporary name beside OUT and moved to OUT only when the checks
pass: on a failed export or check (``FAILED: ...``, exit status 1) nothing is left at OUT. An
existing OUT is refused unless ``--force`` (``error: ...``, exit status 1).

``--mobile`` (static exports only) rewrites the graph for the NNAPI / CoreML execution providers
before the parity check (:mod:`mmhybrid.deploy.mobile`, see docs/en/deployment.md) and
prints the verdict of onnxruntime's mobile usability checker; ``--mobile-profile approx-erf``
also replaces the exact GELU's ``Erf`` (default profile: ``exact``). ``--mobile`` takes no value,
so ``--mobile OUT`` reads OUT as the output file.

A detector is exported as backbone + neck (images -> the neck's feature maps: its heads end in
NMS, which mmdeploy's post-processing replaces); the tool says so when it exports one.
Examples::

    python tools/deployment/pytorch2onnx.py configs/edgevit/edgevit-xxs_8xb256_in1k.py \\
        --shape 224 224 work_dirs/edgevit-xxs.onnx
    python tools/deployment/pytorch2onnx.py configs/topformer/topformer_t_ade20k.py \\
        --checkpoint topformer-t.pth --shape 512 512 topformer-t.onnx --dynamic
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))  # a checkout
sys.path.append(osp.dirname(osp.dirname(osp.abspath(__file__))))  # tools/_light_cli.py
from _light_cli import ONNX_RTOL, ConfigOptionsAction  # noqa: E402

#: ``mmhybrid.deploy.export.DEFAULT_RTOL``, repeated so that ``--help`` imports no torch.
DEFAULT_RTOL = ONNX_RTOL


def positive_int(text: str) -> int:
    """An argparse type: a whole number >= 1 (argparse names the argument in its error)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f'must be a positive integer, got {value}')
    return value


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help="config file, or e.g. 'mmpretrain::resnet/xxx.py'")
    parser.add_argument('out', help='output .onnx file')
    parser.add_argument('--checkpoint', help='weights to export (default: random init)')
    parser.add_argument('--shape', type=positive_int, nargs=2, required=True,
                        metavar=('H', 'W'), help='input height and width')
    parser.add_argument('--batch', type=positive_int, default=1)
    parser.add_argument('--part', choices=['model', 'backbone'], default='model')
    parser.add_argument('--dynamic', action='store_true',
                        help='dynamic batch / height / width axes')
    parser.add_argument('--mobile', action='store_true',
                        help='static graph in NNAPI/CoreML operators')
    parser.add_argument('--mobile-profile', choices=['exact', 'approx-erf'],
                        help='with --mobile: keep the exact GELU (exact, the default) or also '
                        'replace its Erf (approx-erf)')
    parser.add_argument('--no-deploy', action='store_true',
                        help='export without switch_to_deploy (conv+BN folding)')
    parser.add_argument('--opset', type=int, default=17)
    parser.add_argument('--rtol', type=float, default=DEFAULT_RTOL,
                        help='relative tolerance of the onnxruntime parity check')
    parser.add_argument('--force', action='store_true', help='replace an existing OUT')
    parser.add_argument('--cfg-options', nargs='+', action=ConfigOptionsAction)
    args = parser.parse_args(argv)
    if args.mobile_profile and not args.mobile:
        parser.error('--mobile-profile needs --mobile')
    return args


def build_task_model(config, **kwargs):
    """:func:`mmhybrid.tasks.build_task_model`, imported on first use (``--help`` stays
    fast)."""
    from mmhybrid.tasks import build_task_model as build
    return build(config, **kwargs)


def pytorch2onnx(config, out, shape, checkpoint=None, batch=1, part='model', dynamic=False,
                 deploy=True, opset=17, rtol=DEFAULT_RTOL, cfg_options=None, mobile=None):
    """Export and check; returns the :class:`~mmhybrid.deploy.ParityResult`."""
    from mmhybrid.deploy import export_and_check

    task = build_task_model(config, checkpoint=checkpoint, part=part, shape=shape,
                            deploy=deploy, cfg_options=cfg_options)
    if getattr(task, 'scope', None) == 'mmdet' and part == 'model':
        print('note: a detector is exported as backbone + neck (images -> the neck\'s feature '
              'maps); its heads end in NMS, which mmdeploy-style post-processing replaces.')
    inputs = task.make_inputs(batch=batch)
    return export_and_check(task.module, inputs, out, opset=opset, dynamic=dynamic, rtol=rtol,
                            mobile=mobile)


def main(argv=None):
    args = parse_args(argv)
    from mmhybrid.deploy import OnnxParityError
    from mmhybrid.utils.fileio import check_destination, check_outputs

    mobile = (args.mobile_profile or 'exact') if args.mobile else None
    if args.mobile and args.dynamic:
        print('error: --mobile needs a static export; drop --dynamic.', file=sys.stderr)
        return 1
    try:
        check_outputs([('OUT', args.out)], [('the config', args.config),
                                            ('--checkpoint', args.checkpoint)])
        check_destination(args.out, force=args.force)
    except (FileExistsError, IsADirectoryError, ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    try:
        result = pytorch2onnx(args.config, args.out, args.shape, args.checkpoint, args.batch,
                              args.part, args.dynamic, not args.no_deploy, args.opset,
                              args.rtol, args.cfg_options, mobile=mobile)
    except (OnnxParityError, RuntimeError) as exc:
        print(f'FAILED: {exc} Nothing was written to {args.out}.', file=sys.stderr)
        return 1
    for shape, errors in result.errors.items():
        print(f'onnxruntime vs PyTorch at {list(shape)}: max relative error '
              f'{max(errors):.2e} over {len(errors)} output(s) (rtol {args.rtol:g})')
    if args.mobile:
        from mmhybrid.deploy.mobile_check import check_mobile_usability
        print(f'mobile checker: {check_mobile_usability(args.out).summary()}')
    print(f'saved {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
