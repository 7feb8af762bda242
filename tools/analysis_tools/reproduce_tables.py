# Copyright (c) mmhybrid contributors. All rights reserved.
"""Reproduce the papers' tables: the metafiles' figures side by side with what this machine
measures.

For every model in the metafiles (or those matching ``--models``; shell patterns on the model
name or config path) and, with ``--baselines``, the papers' CNN baselines from
mmpretrain / mmseg (:data:`mmhybrid.tasks.BASELINE_CONFIGS`), the tool writes one Markdown
table per task with:

* Params and FLOPs: the paper's (metafile ``Metadata``) and the exact count here
  (fvcore-style MACs with the attention matmuls, :mod:`mmhybrid.analysis.complexity`), at the
  size the config evaluates at (224 cls, the crop size seg, 800x1333 det);
* CPU latency in eager PyTorch, fused (``switch_to_deploy``) and onnxruntime
  (:mod:`mmhybrid.deploy.compare`), medians of ``--runs`` runs after ``--warmup``, for the
  tasks in ``--latency-tasks`` (detectors are slow on CPU and off by default), and the ratio to
  the first baseline of the same task;
* accuracy: the paper's figure, and the measured one when ``--checkpoints DIR`` holds
  ``<model name>.pth`` and ``--data-root`` holds the datasets (``data/`` in the configs'
  ``data_root`` is replaced by it); otherwise "not evaluated".

Next to ``--out`` it writes ``<stem>_accuracy_vs_latency.png`` (paper accuracy or the
measured one vs eager latency, one line per family, like the papers' Pareto plots),
``<stem>_latency_vs_size.png`` (eager latency at ``--sizes``) and ``<stem>.json`` (every
number). Each file is written atomically; if any of them exists the tool stops before measuring
unless ``--force`` is given. Example::

    python tools/analysis_tools/reproduce_tables.py --models 'edgevit-*in1k' 'topformer_*' \\
        --baselines --threads 1 --runs 10 --out work_dirs/tables.md
"""
import argparse
import json
import os.path as osp
import sys
import tempfile
import warnings

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)  # a checkout
sys.path.append(osp.join(ROOT, 'tools'))  # tools/_light_cli.py
from _light_cli import COMPARE_MODES  # noqa: E402

#: The metric reported per task (metafile name, mmengine metric key, scale to percent).
PRIMARY_METRICS = {
    'cls': ('Top 1 Accuracy', 'accuracy/top1', 1.),
    'seg': ('mIoU', 'mIoU', 1.),
    'det': ('box AP', 'coco/bbox_mAP', 100.),
}
TASK_TITLES = dict(cls='Image classification', seg='Semantic segmentation',
                   det='Object detection (latency: backbone + neck)')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--models', nargs='+', help='model names / config paths or shell '
                        'patterns (default: every model in the metafiles); a config file in '
                        'no metafile is measured without paper figures')
    parser.add_argument('--baselines', action='store_true',
                        help='also measure MobileNetV2/V3, ResNet-50 and mmseg baselines')
    parser.add_argument('--checkpoints', help='folder with <model name>.pth files')
    parser.add_argument('--data-root', help='replaces "data/" in the configs\' data roots')
    parser.add_argument('--out', required=True, help='Markdown file to write')
    parser.add_argument('--force', action='store_true',
                        help='replace existing output files (--out and the files next to it)')
    parser.add_argument('--modes', nargs='+', default=list(COMPARE_MODES),
                        choices=COMPARE_MODES)
    parser.add_argument('--latency-tasks', nargs='*', default=['cls', 'seg'],
                        choices=['cls', 'seg', 'det'], help='tasks whose latency is measured')
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--runs', type=int, default=10)
    parser.add_argument('--threads', type=int, default=1,
                        help='torch and onnxruntime intra-op threads (0: torch default). 1 '
                        'gives the most stable figures on a shared machine')
    parser.add_argument('--sizes', type=int, nargs='*', default=None,
                        help='square input sizes for the latency-vs-size plot (eager, '
                        '--size-runs runs); default 160 224 320 for cls, 256 384 512 for seg; '
                        'pass --sizes without values to skip')
    parser.add_argument('--size-runs', type=int, default=3)
    parser.add_argument('--root', default=ROOT, help='repository root (model-index.yml)')
    parser.add_argument('--no-progress', action='store_true',
                        help='no progress bar (one step per model; shown only on a terminal)')
    return parser.parse_args(argv)


if __name__ == '__main__':
    parse_args()  # --help and usage errors answer before torch and OpenMMLab are imported

from mmhybrid.analysis import count_complexity, machine_info, set_num_threads  # noqa: E402
from mmhybrid.apis.metafiles import load_model_index, match_models  # noqa: E402
from mmhybrid.deploy import compare_modes  # noqa: E402
from mmhybrid.tasks import (  # noqa: E402
    BASELINE_CONFIGS,
    TASK_SCOPES,
    build_task_model,
    load_config,
    plain_model_cfg,
)
from mmhybrid.utils.fileio import atomic_output, check_destination  # noqa: E402
from mmhybrid.utils.progress import progress_bar  # noqa: E402


def _evaluate(config: str, checkpoint: str, data_root: str, scope: str) -> dict:
    """Run the config's test loop on ``checkpoint``; returns the metrics dict."""
    from mmengine.runner import Runner

    cfg = load_config(config)
    cfg.model = plain_model_cfg(cfg.model)
    prefix = data_root.rstrip('/') + '/'

    def redirect(node):
        if isinstance(node, dict):
            root = node.get('data_root')
            if isinstance(root, str) and root.startswith('data/'):
                node['data_root'] = prefix + root[len('data/'):]
            for value in node.values():
                redirect(value)
        elif isinstance(node, list):
            for value in node:
                redirect(value)

    redirect(cfg.test_dataloader)
    redirect(cfg.test_evaluator)
    cfg.load_from = checkpoint
    cfg.launcher = 'none'
    with tempfile.TemporaryDirectory() as work_dir:
        cfg.work_dir = work_dir
        import mmhybrid.models  # noqa: F401
        return Runner.from_cfg(cfg).test()


def _fmt(value, digits=2, scale=1.):
    if value is None or value == '':
        return '-'
    if isinstance(value, str):
        return value
    return f'{value / scale:.{digits}f}'


def _paper_count(value):
    """Metafile counts may be ints or strings like '1.4M' / '0.6G'."""
    if value in (None, ''):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    scale = dict(K=1e3, M=1e6, G=1e9, T=1e12).get(text[-1:].upper(), 1.)
    try:
        return float(text[:-1] if scale != 1. else text) * scale
    except ValueError:
        return None


def collect_jobs(args):
    _, models = load_model_index(args.root)
    jobs = []
    for entry in match_models(models, args.models):
        task = {'Image Classification': 'cls', 'Semantic Segmentation': 'seg'}.get(
            entry.primary_task, 'det')
        metric = PRIMARY_METRICS[task][0]
        jobs.append(dict(
            name=entry.name, family=entry.collection, config=osp.join(args.root, entry.config),
            task=task, paper_params=_paper_count(entry.metadata.get('Parameters')),
            paper_flops=_paper_count(entry.metadata.get('FLOPs')), metric=metric,
            paper_metric=entry.metric(metric), baseline=False))
    # config files named explicitly but listed in no metafile (yet): measured, no paper figures
    listed = {osp.normpath(job['config']) for job in jobs}
    for pattern in args.models or []:
        path = pattern if osp.isabs(pattern) else osp.join(args.root, pattern)
        if pattern.endswith('.py') and osp.isfile(path) and osp.normpath(path) not in listed:
            cfg = load_config(path)
            task = TASK_SCOPES[cfg.default_scope]
            jobs.append(dict(
                name=osp.splitext(osp.basename(path))[0], family=osp.basename(osp.dirname(path)),
                config=path, task=task, paper_params=None, paper_flops=None,
                metric=PRIMARY_METRICS[task][0], paper_metric=None, baseline=False))
    if args.models and not jobs:
        raise SystemExit(f'--models {args.models} matches no model in the metafiles and no '
                         'config file.')
    if args.baselines:
        for name, config in BASELINE_CONFIGS.items():
            scope = load_config(config).default_scope
            task = TASK_SCOPES[scope]
            # seg baselines at the families' 512x512 (LR-ASPP's config crops 512x1024)
            jobs.append(dict(name=name, family='baseline', config=config, task=task,
                             paper_params=None, paper_flops=None,
                             metric=PRIMARY_METRICS[task][0], paper_metric=None,
                             baseline=True, shape=(512, 512) if task == 'seg' else None))
    return jobs


def tqdm_write(message: str) -> None:
    from tqdm import tqdm
    tqdm.write(message, file=sys.stderr)


def measure(job: dict, args) -> dict:
    task_model = build_task_model(job['config'], name=job['name'], shape=job.get('shape'))
    x = task_model.make_inputs()
    row = dict(job, input_shape=list(task_model.input_shape))
    complexity = count_complexity(task_model.module, x)
    row.update(params=complexity.params, flops=complexity.flops,
               attention_flops=complexity.attention_flops)
    row['latency'] = {}
    if job['task'] in args.latency_tasks:
        torch_modes = [m for m in args.modes if m != 'onnxruntime']
        for measurement in compare_modes(task_model.module, x, modes=torch_modes,
                                         warmup=args.warmup, runs=args.runs,
                                         threads=args.threads or None):
            row['latency'][measurement.mode] = measurement.to_dict()
        if 'onnxruntime' in args.modes:
            try:
                measurement = compare_modes(task_model.module, x, modes=['onnxruntime'],
                                            warmup=args.warmup, runs=args.runs,
                                            threads=args.threads or None)[0]
                row['latency']['onnxruntime'] = measurement.to_dict()
            except RuntimeError as exc:  # a graph the exporter refuses: keep the other figures
                row.setdefault('errors', []).append(str(exc))
                tqdm_write(f'{job["name"]}: onnxruntime not measured: {exc}')
        sizes = args.sizes if args.sizes is not None else dict(
            cls=[160, 224, 320], seg=[256, 384, 512], det=[]).get(job['task'], [])
        row['latency_vs_size'] = {}
        for size in sizes:
            try:
                result = compare_modes(
                    task_model.module, task_model.make_inputs(shape=(size, size)),
                    modes=['eager'], warmup=1, runs=args.size_runs, measure_memory=False)[0]
            except RuntimeError as exc:  # e.g. fixed pooling kernels larger than the map
                row.setdefault('errors', []).append(f'{size}x{size}: {exc}')
                tqdm_write(f'{job["name"]}: not measured at {size}x{size}: {exc}')
                continue
            row['latency_vs_size'][size] = result.latency.median_ms
    row['measured_metric'] = None
    checkpoint = osp.join(args.checkpoints, f'{job["name"]}.pth') if args.checkpoints else None
    if checkpoint and osp.isfile(checkpoint) and args.data_root:
        scope = task_model.scope
        metrics = _evaluate(job['config'], checkpoint, args.data_root, scope)
        _, key, scale = PRIMARY_METRICS[job['task']]
        value = next((v for k, v in metrics.items() if k.endswith(key)), None)
        row['measured_metric'] = None if value is None else float(value) * scale
    return row


def render(rows, info, args) -> str:
    lines = [
        '# Papers\' tables vs this machine', '',
        f'Generated by `tools/analysis_tools/reproduce_tables.py` on {info["date"]}: '
        f'{info["cpu"]}, {info["logical_cpus"]} logical CPUs, {args.threads or "default"} '
        f'intra-op thread(s) for PyTorch and onnxruntime, torch {info["torch"]}, onnxruntime '
        f'{info.get("onnxruntime", "-")}. Batch 1, random weights and inputs; latency = median '
        f'of {args.runs} runs after {args.warmup} warm-up (IQR in the JSON file).', '',
        'Params/FLOPs "here" are exact counts of the measured module (fvcore-style MACs, '
        'attention matmuls included); "paper" columns are the metafiles\' figures. '
        'Detectors: params/FLOPs/latency of backbone + neck. Segmentors: the EncoderDecoder '
        'in tensor mode (no final up-sampling). Ratios: latency / the first baseline of the '
        'task (eager).', ''
    ]
    for task in ('cls', 'seg', 'det'):
        task_rows = [r for r in rows if r['task'] == task]
        if not task_rows:
            continue
        metric = PRIMARY_METRICS[task][0]
        baseline = next((r for r in task_rows if r['baseline'] and r['latency']), None)
        base_ms = baseline['latency'].get('eager', {}).get('median_ms') if baseline else None
        lines += [f'## {TASK_TITLES[task]}', '']
        header = ['Model', 'Input', 'Params paper (M)', 'Params here (M)', 'FLOPs paper (G)',
                  'FLOPs here (G)', f'{metric} paper', f'{metric} here'] + [
                      f'{m} ms' for m in args.modes]
        if base_ms:
            header.append(f'eager vs {baseline["name"]}')
        lines.append('| ' + ' | '.join(header) + ' |')
        lines.append('|' + '|'.join([' --- ', ' --- '] + [' ---: '] * (len(header) - 2)) + '|')
        for r in task_rows:
            measured = 'not evaluated' if r['measured_metric'] is None else \
                f'{r["measured_metric"]:.1f}'
            cells = [r['name'] + (' (baseline)' if r['baseline'] else ''),
                     'x'.join(map(str, r['input_shape'])),
                     _fmt(r['paper_params'], 2, 1e6), _fmt(r['params'], 2, 1e6),
                     _fmt(r['paper_flops'], 2, 1e9), _fmt(r['flops'], 2, 1e9),
                     _fmt(r['paper_metric'], 1), measured]
            for mode in args.modes:
                lat = r['latency'].get(mode)
                if lat:
                    cells.append(f'{lat["median_ms"]:.1f}')
                else:
                    cells.append('export failed' if mode == 'onnxruntime' and any(
                    'ONNX export' in e for e in r.get('errors', [])) else 'not measured')
            if base_ms:
                eager = r['latency'].get('eager')
                cells.append(f'{eager["median_ms"] / base_ms:.2f}x' if eager else '-')
            lines.append('| ' + ' | '.join(cells) + ' |')
        lines.append('')
    return '\n'.join(lines)


def plot(rows, out_stem: str):
    """Accuracy vs latency and latency vs input size, PNG files next to ``--out``.

    Returns:
        tuple: the paths written, and those skipped because the plot would have been empty
        (no accuracy figure, or no ``--sizes``).
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    written, skipped = [], []
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    for ax, task in zip(axes, ('cls', 'seg')):
        families = {}
        for r in rows:
            accuracy = r['measured_metric'] if r['measured_metric'] is not None else \
                r['paper_metric']
            eager = r['latency'].get('eager')
            if r['task'] == task and eager and accuracy is not None:
                families.setdefault(r['family'], []).append(
                    (eager['median_ms'], accuracy, r['name']))
        for family, points in families.items():
            points.sort()
            ax.plot([p[0] for p in points], [p[1] for p in points], marker='o', label=family)
            for ms, acc, name in points:
                ax.annotate(name, (ms, acc), fontsize=6, xytext=(3, 3),
                            textcoords='offset points')
        ax.set_xlabel('CPU latency, eager (ms)')
        ax.set_ylabel(PRIMARY_METRICS[task][0] + ' (paper unless measured)')
        ax.set_title(TASK_TITLES[task])
        ax.grid(alpha=.3)
        if families:
            ax.legend(fontsize=7)
    _save_unless_empty(fig, axes, f'{out_stem}_accuracy_vs_latency.png', written, skipped)

    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    for ax, task in zip(axes, ('cls', 'seg')):
        for r in rows:
            sizes = r.get('latency_vs_size') or {}
            if r['task'] == task and sizes:
                keys = sorted(sizes, key=int)
                ax.plot([int(k) for k in keys], [sizes[k] for k in keys], marker='o',
                        label=r['name'], linestyle='--' if r['baseline'] else '-')
        ax.set_xlabel('input size (square, px)')
        ax.set_ylabel('CPU latency, eager (ms)')
        ax.set_yscale('log')
        ax.set_title(TASK_TITLES[task])
        ax.grid(alpha=.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6)
    _save_unless_empty(fig, axes, f'{out_stem}_latency_vs_size.png', written, skipped)
    return written, skipped


def _save_unless_empty(fig, axes, path: str, written: list, skipped: list) -> None:
    """Write ``fig`` to ``path`` atomically, unless none of its axes holds a curve (then the
    path goes to ``skipped``: an empty plot is not a result)."""
    import matplotlib.pyplot as plt
    if any(ax.lines for ax in axes):
        fig.tight_layout()
        with atomic_output(path) as tmp:
            fig.savefig(tmp, dpi=120, format='png')
        written.append(path)
    else:
        skipped.append(path)
    plt.close(fig)


def output_paths(out: str):
    """Every file the tool writes for ``--out``: the Markdown, the JSON and the two plots."""
    stem = osp.splitext(out)[0]
    return [out, f'{stem}.json', f'{stem}_accuracy_vs_latency.png',
            f'{stem}_latency_vs_size.png']


def check_outputs(args) -> None:
    """Stop before measuring if an output exists (unless ``--force``) or --out is the JSON."""
    paths = output_paths(args.out)
    if len(set(map(osp.abspath, paths))) != len(paths):
        raise SystemExit(f'error: --out {args.out} would be overwritten by the JSON results; '
                         'give a .md file.')
    for path in paths:
        try:
            check_destination(path, force=args.force)
        except (FileExistsError, IsADirectoryError) as exc:
            raise SystemExit(f'error: {exc}') from None


def main(argv=None):
    args = parse_args(argv)
    check_outputs(args)
    threads = set_num_threads(args.threads or None)
    jobs = collect_jobs(args)
    info = machine_info()
    info['torch_threads'] = threads
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        progress = progress_bar(jobs, desc='models', unit='model',
                                progress=not args.no_progress)
        for job in progress:
            progress.set_postfix_str(job['name'])
            rows.append(measure(job, args))
    with atomic_output(args.out) as tmp, open(tmp, 'w') as f:
        f.write(render(rows, info, args))
    stem = osp.splitext(args.out)[0]
    with atomic_output(f'{stem}.json') as tmp, open(tmp, 'w') as f:
        json.dump(dict(machine=info, args=vars(args), rows=rows), f, indent=1, default=str)
    pngs, empty = plot(rows, stem)
    for png in empty:
        print(f'not written: {png} (nothing to plot)')
    print(f'wrote {args.out}, {stem}.json' + ''.join(f', {png}' for png in pngs))
    return rows


if __name__ == '__main__':
    main()
