# Copyright (c) mmhybrid contributors. All rights reserved.
"""Evaluate a checkpoint of any mmhybrid config (MMDetection, MMSegmentation or MMPretrain).

Examples:
    python tools/test.py CONFIG CHECKPOINT
    python tools/test.py CONFIG CHECKPOINT --show-dir vis/    # write prediction drawings
    python tools/test.py CONFIG CHECKPOINT --out results.pkl   # raw predictions, any task
    python tools/test.py SEG_CONFIG CHECKPOINT --out preds/    # mmseg: one PNG per image
    python tools/test.py CONFIG CHECKPOINT --non-strict       # evaluate a partial checkpoint
    python tools/test.py CONFIG CHECKPOINT --data-root data/tiny/ADEChallengeData2016
    bash tools/dist_test.sh CONFIG CHECKPOINT 8

The checkpoint is loaded strictly: a checkpoint of another model, another architecture or
without the ``backbone.`` prefix is an error naming the mismatching keys, raised before any
dataset is built (MMEngine alone would evaluate the random weights left behind and report a
wrong number). ``--non-strict`` loads whatever matches and prints what did not. Only what the
test reads must exist: the test split's folders and the test evaluator's files (a missing one is
named with the config key to set); ``--data-root DIR`` reads the test split from DIR.

No output ever overwrites an input, ``--force`` or not: ``--out``, ``--show-dir`` and the work dir
may not be the checkpoint or the config (also through a link or another spelling of the path),
nor equal, lie inside or (except the work dir) contain a dataset folder of the config (every
dataloader's ``data_root``, ``data_prefix`` folders and ``ann_file``); ``--out`` may not be
``--show-dir`` or the work dir. These errors name the argument and the input and come before
anything is built. Every output is atomic: ``--out FILE.pkl`` is pickled to a temporary file
that replaces FILE only when complete (a full disk leaves the old FILE), and the label PNGs of
``--out FOLDER`` are written to a hidden folder beside it and each renamed into place.
"""
import argparse
import copy
import os
import os.path as osp
import shutil
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout
sys.path.append(osp.dirname(osp.abspath(__file__)))  # tools/_light_cli.py
from _light_cli import ConfigOptionsAction  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test a model with an mmhybrid config')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='directory for the evaluation log and metrics')
    parser.add_argument(
        '--data-root', metavar='DIR',
        help='read the test split from DIR (also the evaluator files that lay under the '
        'config\'s data root, e.g. COCO\'s ann_file)')
    parser.add_argument(
        '--out',
        help='a .pkl file: dump the raw predictions (any task); a folder (segmentation '
        'configs, as mmseg\'s test.py): write each prediction as a label PNG, e.g. for '
        'confusion matrices or benchmark submissions')
    parser.add_argument('--force', action='store_true',
                        help='let --out replace an existing .pkl or write into a non-empty folder '
                        '(never over an input: the checkpoint, the config or the dataset)')
    parser.add_argument(
        '--non-strict', action='store_true',
        help='load a checkpoint that does not fit the model exactly (prints the missing, '
        'unexpected and mis-shaped keys; the rest of the model keeps random weights)')
    parser.add_argument('--show', action='store_true', help='show predictions in a window')
    parser.add_argument('--show-dir', help='directory where prediction drawings are saved')
    parser.add_argument('--wait-time', type=float, default=2, help='seconds each --show lasts')
    parser.add_argument('--interval', type=int, default=1, help='draw every N-th sample')
    parser.add_argument(
        '--cfg-options', nargs='+', action=ConfigOptionsAction,
        help='override config settings, key=value pairs')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm'], default='none', help='job launcher')
    parser.add_argument('--local-rank', '--local_rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


if __name__ == '__main__':
    parse_args()  # --help and usage errors answer before torch and OpenMMLab are imported

from mmengine.config import Config  # noqa: E402
from mmengine.evaluator import DumpResults  # noqa: E402
from mmengine.model import is_model_wrapper  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from mmhybrid.apis.runner_setup import (  # noqa: E402
    TEST_DATALOADERS,
    build_runner,
    check_runner_model,
    default_work_dir,
    enable_visualization,
    prepare_data_checks,
    setup_cpu_distributed,
)
from mmhybrid.apis.short_run import follow_data_root  # noqa: E402
from mmhybrid.tasks.scope import task_scope  # noqa: E402
from mmhybrid.utils.fileio import (  # noqa: E402
    atomic_output,
    check_outputs,
    config_inputs,
    temporary_name,
)
from mmhybrid.utils.state_dict import (  # noqa: E402
    check_checkpoint_fits,
    checkpoint_state_dict,
    compare_state_dicts,
    load_checkpoint_file,
)


def check_checkpoint(runner: Runner, path: str, strict: bool) -> None:
    """Refuse (``strict``) or report a checkpoint that does not fit the runner's model exactly.

    The runner then loads it as usual (``load_from``), which after this check is a complete
    load.
    """
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    checkpoint = load_checkpoint_file(path)
    if strict:
        check_checkpoint_fits(
            model, path, checkpoint=checkpoint,
            fix='Use the checkpoint trained with this config (or convert the authors\' file '
            'with tools/model_converters/), or pass --non-strict to evaluate it anyway.')
    else:
        mismatch = compare_state_dicts(model.state_dict(), checkpoint_state_dict(checkpoint))
        if not mismatch.is_exact:
            print(f'--non-strict: {path} does not fit the model exactly; what did not load '
                  f'keeps random weights:\n{mismatch.describe(limit=20)}', flush=True)


def never_read_the_train_split(cfg: Config) -> None:
    """Point the (unused) training dataloader at the test split.

    Testing never trains, but mmseg's ``SegVisualizationHook`` (``--show-dir``) asks the runner
    for its iteration, which makes MMEngine build the training loop and so the training
    dataset: without the training folders the test died in ``os.scandir``. The loop is built,
    never run, so giving it the test split's dataloader changes no result.
    """
    if cfg.get('train_dataloader') is not None and cfg.get('test_dataloader') is not None:
        cfg.train_dataloader = copy.deepcopy(cfg.test_dataloader)


def check_no_input_overwritten(cfg: Config, args) -> None:
    """Refuse ``--out``, ``--show-dir`` and the work dir where they would write over an input.

    Inputs are the checkpoint, the config and every dataset folder and annotation file of the
    config (all dataloaders, all splits); ``--force`` does not lift this.

    Raises:
        ValueError: naming the argument and the input it clashes with.
    """
    folders, files = config_inputs(cfg)
    input_files = [('the checkpoint', args.checkpoint), ('the config', args.config)]
    input_files += files
    work_dir = ('--work-dir' if args.work_dir is not None else 'work_dir', cfg.work_dir)
    check_outputs([('--out', args.out), ('--show-dir', args.show_dir)], input_files, folders)
    check_outputs([('--out', args.out), work_dir], input_files, folders,
                  may_contain_inputs=(work_dir[0], ))


def _atomic_dump_class(base: type) -> type:
    """``base`` (MMEngine's ``DumpResults`` or mmdet's ``DumpDetResults``) dumping through a
    temporary file that replaces ``out_file_path`` only when the pickle is complete."""

    def compute_metrics(self, results: list) -> dict:
        from mmengine.fileio import dump
        from mmengine.logging import print_log
        with atomic_output(self.out_file_path) as tmp:
            dump(results, tmp, file_format='pkl')
        print_log(f'Results has been saved to {self.out_file_path}.', logger='current')
        return {}

    return type(f'Atomic{base.__name__}', (base, ), dict(compute_metrics=compute_metrics))


def out_kind(out: str, scope: str, force: bool) -> str:
    """``'pickle'`` or ``'folder'``: what ``--out`` asks for, checked before anything is built.

    Raises:
        ValueError: a folder for a task whose library writes no per-image files.
        FileExistsError: ``out`` would replace a file or fill a non-empty folder (``--force``).
    """
    if out.endswith(('.pkl', '.pickle')):
        if osp.exists(out) and not force:
            raise FileExistsError(f'--out {out} exists; pass --force to replace it.')
        return 'pickle'
    if scope != 'mmseg':
        raise ValueError(f'--out must name a .pkl file for {scope} configs (their predictions '
                         f'are pickled), got {out!r}.')
    if osp.isfile(out):
        raise FileExistsError(f'--out {out} is a file; give a folder for the label PNGs.')
    if osp.isdir(out) and os.listdir(out) and not force:
        raise FileExistsError(f'--out {out} is not empty; pass --force to write the label PNGs '
                              'into it (files of the same name are replaced), or choose an '
                              'empty folder.')
    return 'folder'


def write_label_pngs(cfg: Config, folder: str) -> None:
    """``--out FOLDER`` (segmentation): the metric writes one label PNG per image into
    ``folder`` (:func:`main` passes a staging folder, see :func:`move_into_place`)."""
    evaluators = cfg.test_evaluator if isinstance(cfg.test_evaluator, list) else [
        cfg.test_evaluator]
    for evaluator in evaluators:
        evaluator['output_dir'] = folder
        evaluator['keep_results'] = True  # CityscapesMetric keeps its files only then


def move_into_place(staging: str, folder: str) -> None:
    """Rename every file written under ``staging`` to the same place under ``folder``."""
    for root, _, names in os.walk(staging):
        target_root = osp.join(folder, osp.relpath(root, staging))
        os.makedirs(target_root, exist_ok=True)
        for name in names:
            os.replace(osp.join(root, name), osp.join(target_root, name))


def dump_predictions(runner: Runner, path: str, scope: str) -> None:
    """``--out FILE.pkl``: pickle the raw predictions of the test loop, atomically."""
    if scope == 'mmdet':  # encodes masks as RLE, like mmdet's own test.py
        from mmdet.evaluation import DumpDetResults
        base = DumpDetResults
    else:
        base = DumpResults
    runner.test_evaluator.metrics.append(_atomic_dump_class(base)(out_file_path=path))


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint {args.checkpoint!r} does not exist.')
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = default_work_dir(cfg, args.config, args.work_dir)
    cfg.load_from = args.checkpoint
    if args.data_root:
        changes = follow_data_root(cfg, args.data_root, TEST_DATALOADERS)
        if changes:
            print(f'--data-root: {"; ".join(changes)}', flush=True)
    never_read_the_train_split(cfg)
    scope = task_scope(cfg)
    check_no_input_overwritten(cfg, args)
    kind = out_kind(args.out, scope, args.force) if args.out is not None else None
    staging = temporary_name(args.out) if kind == 'folder' else None
    if staging is not None:
        write_label_pngs(cfg, staging)
    prepare_data_checks(cfg, TEST_DATALOADERS)
    setup_cpu_distributed(cfg)
    if args.show or args.show_dir:
        enable_visualization(cfg, scope, args.show_dir, args.show, args.wait_time,
                             args.interval)

    runner = build_runner(cfg)
    check_runner_model(runner)
    check_checkpoint(runner, args.checkpoint, strict=not args.non_strict)
    if kind == 'pickle':
        dump_predictions(runner, args.out, scope)
    try:
        if staging is not None:  # every rank writes its own images there
            os.makedirs(staging, exist_ok=True)
        metrics = runner.test()
        if staging is not None:
            move_into_place(staging, args.out)
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    wrote = [f'the log and metrics under {runner.log_dir}']
    if args.out:
        wrote.append(f'the predictions to {args.out}')
    if args.show_dir:
        wrote.append(f'the drawings under {args.show_dir}')
    print(f'test.py wrote {", ".join(wrote)}.', flush=True)
    return metrics


if __name__ == '__main__':
    main()
