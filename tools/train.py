# Copyright (c) mmhybrid contributors. All rights reserved.
"""Train any mmhybrid config (MMDetection, MMSegmentation or MMPretrain).

Examples:
    python tools/train.py configs/topformer/topformer_t_ade20k.py
    python tools/train.py CONFIG --work-dir work_dirs/x --cfg-options train_dataloader.batch_size=4
    python tools/train.py CONFIG --resume                 # latest checkpoint in the work dir
    python tools/train.py CONFIG --resume path/to/iter_4000.pth
    python tools/train.py CONFIG --data-root data/tiny/ADEChallengeData2016 --iters 300
    python tools/train.py CONFIG --check-data             # scan the dataset first
    python tools/train.py CONFIG --compile                # torch.compile the forward passes
    bash tools/dist_train.sh CONFIG 8                     # DDP on 8 devices

Checkpoints are written atomically (``mmhybrid.AtomicCheckpointHook``): a run killed while
saving leaves the previous checkpoint intact and named by ``last_checkpoint``. ``--resume``
without a path continues from that checkpoint, or from the newest intact one in the work dir
when ``last_checkpoint`` is missing, empty or names a damaged file, and says which. Before any
dataset is built, the model is checked to fit together (neck/head ``in_channels`` against the
backbone's outputs) and a checkpoint to resume from must fit the model exactly.

``--data-root DIR`` points every dataset (and the evaluator files under the old root, such as
COCO's ``ann_file``) at DIR; ``--iters N`` (``--epochs N`` for epoch-based configs) shortens
the schedule and scales its warm-up, milestones and validation, checkpoint and log intervals
to fit (one printed line says what changed; :mod:`mmhybrid.apis.short_run`).

Every run is guarded and checked before the long work starts:

* one run per work dir: a second run started into the same ``--work-dir`` is refused, naming
  the live run (:class:`mmhybrid.engine.WorkDirLock`);
* hook arguments are checked against the hooks' signatures, and ``save_best``/``rule``
  against the metrics the ``val_evaluator`` produces (:mod:`mmhybrid.apis.setting_checks`);
* ``load_from`` must fit the model exactly (``--cfg-options load_from_strict=False`` for a
  deliberate partial load, which lists what did not load), and ``--resume`` refuses a config
  that differs from the checkpoint's (``--resume-with-changes`` to accept, listing the
  differences) or a schedule with nothing left to train (:mod:`mmhybrid.apis.load_checks`);
* no checkpoint with NaN or infinite weights is loaded, and a diverging run stops within a few
  iterations, naming the iteration, the loss terms and the last good checkpoint, without
  writing a checkpoint of the diverged model (:class:`mmhybrid.engine.DivergenceGuardHook`;
  ``--cfg-options divergence_guard=False`` turns it off).

``--compile [MODE]`` (or ``compile_forward=MODE`` in the config, e.g. for ``mim train``)
compiles the forward passes with ``torch.compile`` and keeps the optimizer eager
(:class:`mmhybrid.engine.CompileForwardHook`); MMEngine's ``compile=True``, which fails inside
``torch.optim``, is turned into the same.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout
sys.path.append(osp.dirname(osp.abspath(__file__)))  # tools/_light_cli.py
from _light_cli import COMPILE_MODES, ConfigOptionsAction  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model with an mmhybrid config')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--work-dir', help='directory for logs and checkpoints')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the given checkpoint, or (without a value) from the latest '
        'checkpoint in the work dir')
    parser.add_argument(
        '--resume-with-changes', action='store_true',
        help='let --resume continue with a config that differs from the checkpoint\'s in the '
        'model, optimizer, schedule or training data (the differences are printed)')
    parser.add_argument(
        '--data-root', metavar='DIR',
        help='read every dataset from DIR (also the evaluator files that lay under the '
        'config\'s data root, e.g. COCO\'s ann_file)')
    length = parser.add_mutually_exclusive_group()
    length.add_argument(
        '--iters', type=int, metavar='N',
        help='train N iterations (iteration-based configs); warm-up, schedule, validation, '
        'checkpoint and log intervals are scaled to fit')
    length.add_argument('--epochs', type=int, metavar='N',
                        help='train N epochs (epoch-based configs), scaled likewise')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument(
        '--compile', nargs='?', const='default', default=None, metavar='MODE',
        choices=list(COMPILE_MODES),
        help='torch.compile the forward passes (backbone, neck, heads, losses; not the '
        'optimizer) with this mode (default: %(const)s); config key: compile_forward')
    parser.add_argument(
        '--check-data', action='store_true',
        help='before training, decode every image and label of the train and val sets and '
        'stop with a list of the broken files (tools/misc/check_dataset.py)')
    parser.add_argument(
        '--auto-scale-lr', action='store_true',
        help='scale the learning rate by the actual batch size (config auto_scale_lr)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=ConfigOptionsAction,
        help='override config settings, key=value pairs, e.g. '
        'train_dataloader.batch_size=4 "model.backbone.out_indices=[1,2,3]"')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm'], default='none',
        help='job launcher (pytorch: torchrun / dist_train.sh; slurm: slurm_train.sh)')
    # torch.distributed.launch passes --local-rank (torch >= 2.0) or --local_rank.
    parser.add_argument('--local-rank', '--local_rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


if __name__ == '__main__':
    parse_args()  # --help and usage errors answer before torch and OpenMMLab are imported

from mmengine.config import Config  # noqa: E402
from mmengine.model import is_model_wrapper  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from mmhybrid.apis.load_checks import check_load_from, check_resume  # noqa: E402
from mmhybrid.apis.runner_setup import (  # noqa: E402
    build_runner,
    check_data,
    check_pretrained_files,
    check_runner_model,
    default_work_dir,
    enable_amp,
    prepare_data_checks,
    setup_cpu_distributed,
    use_atomic_checkpoints,
    use_divergence_guard,
    use_forward_compile,
)
from mmhybrid.apis.setting_checks import check_hook_settings  # noqa: E402
from mmhybrid.apis.short_run import (  # noqa: E402
    check_loop_settings,
    follow_data_root,
    shorten_schedule,
)
from mmhybrid.engine import WorkDirLock, find_resumable_checkpoint  # noqa: E402
from mmhybrid.tasks.scope import task_scope  # noqa: E402
from mmhybrid.utils.checkpoint import checkpoint_problem  # noqa: E402
from mmhybrid.utils.config import interrupts_stay_interrupts  # noqa: E402
from mmhybrid.utils.fileio import check_outputs, config_inputs  # noqa: E402
from mmhybrid.utils.state_dict import check_checkpoint_fits, read_checkpoint  # noqa: E402


def build_config(args) -> Config:
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = default_work_dir(cfg, args.config, args.work_dir)
    changes = follow_data_root(cfg, args.data_root) if args.data_root else []
    changes += shorten_schedule(cfg, args.iters, args.epochs)
    if changes:
        print(f'short run: {"; ".join(changes)}', flush=True)
    check_loop_settings(cfg)
    if args.amp:
        enable_amp(cfg)
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise ValueError('--auto-scale-lr needs auto_scale_lr.base_batch_size in the config.')
        cfg.auto_scale_lr.enable = True
    use_atomic_checkpoints(cfg)
    use_divergence_guard(cfg)
    use_forward_compile(cfg, args.compile)
    if args.resume is None and cfg.get('resume') and not cfg.get('load_from'):
        args.resume = 'auto'  # resume=True in the config: MMEngine's auto-resume
    if args.resume == 'auto':
        resume_point = find_resumable_checkpoint(cfg.work_dir)
        print(f'--resume: {resume_point.message}', flush=True)
        cfg.resume, cfg.load_from = resume_point.checkpoint is not None, resume_point.checkpoint
    elif args.resume is not None:
        problem = checkpoint_problem(args.resume)
        if problem is not None:
            raise FileNotFoundError(f'--resume {args.resume}: the checkpoint {problem}. Give '
                                    'another file, or --resume without a path to continue from '
                                    'the newest intact checkpoint in the work dir.')
        cfg.resume, cfg.load_from = True, args.resume
    return cfg


def check_start_checkpoint(runner: Runner, config_path: str,
                           resume_with_changes: bool = False) -> None:
    """Fail now, naming the problem, if the checkpoint the run starts from does not fit.

    ``--resume``: the checkpoint must have been written by this config's model (MMEngine would
    fail later with size mismatches or optimizer-group errors), with this config's settings
    unless ``--resume-with-changes``, and with training left to do. ``load_from``: it must fit
    the model exactly unless ``load_from_strict=False``. Either way its weights are finite.
    """
    cfg = runner.cfg
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    if not cfg.get('resume') or not cfg.get('load_from'):
        note = check_load_from(model, cfg)
        if note:
            print(note, flush=True)
        return
    checkpoint = read_checkpoint(cfg.load_from)
    check_checkpoint_fits(
        model, cfg.load_from, checkpoint=checkpoint,
        fix=f'--resume continues a run of the same config; {config_path} builds another '
        'model. Resume with that run\'s config, or start a new run (another --work-dir, or '
        'load_from=... to fine-tune from these weights).')
    for line in check_resume(checkpoint, cfg.load_from, cfg, resume_with_changes):
        print(line, flush=True)


def check_work_dir_outside_the_data(cfg: Config, args) -> None:
    """The work dir may hold the dataset (``--work-dir .``) but not lie inside a dataset folder,
    nor be the config file (:func:`mmhybrid.utils.fileio.check_outputs`)."""
    folders, files = config_inputs(cfg)
    argument = '--work-dir' if args.work_dir is not None else 'work_dir'
    check_outputs([(argument, cfg.work_dir)], files + [('the config', args.config)], folders,
                  may_contain_inputs=(argument, ))


def main(argv=None):
    args = parse_args(argv)
    cfg = build_config(args)
    scope = task_scope(cfg)
    note = check_hook_settings(cfg, scope)
    if note:
        print(note, flush=True)
    check_work_dir_outside_the_data(cfg, args)
    check_pretrained_files(cfg)
    prepare_data_checks(cfg)
    if args.check_data:
        check_data(cfg, splits=('train', 'val'))
    with WorkDirLock(cfg.work_dir) as lock:  # before the runner writes anything there
        if lock.message:
            print(lock.message, flush=True)
        setup_cpu_distributed(cfg)
        short_run = args.iters is not None or args.epochs is not None
        runner = build_runner(cfg, quiet=short_run)
        if short_run:
            print('short run: the terminal shows progress, metrics and warnings; the whole log '
                  f'is {osp.join(runner.log_dir, runner.timestamp + ".log")}', flush=True)
        check_runner_model(runner)
        check_start_checkpoint(runner, args.config, args.resume_with_changes)
        with interrupts_stay_interrupts():  # MMEngine formats the config at the start and saves
            runner.train()
    return runner


if __name__ == '__main__':
    main()
