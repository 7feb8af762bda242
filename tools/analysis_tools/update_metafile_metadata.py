# Copyright (c) mmhybrid contributors. All rights reserved.
"""Compute ``Metadata: Parameters`` and ``Metadata: FLOPs`` of every metafile model and write them.

For each model of ``model-index.yml`` the config is built with :mod:`mmhybrid.analysis` (no
checkpoint, no SyncBN) and counted at the size the config evaluates at
(:func:`mmhybrid.tasks.default_input_shape`: 224x224 for classifiers, the crop size for
segmentors, 800x1333 for detectors):

* ``Parameters``: parameter elements of the whole task model as built from the config (the
  classifier, the ``EncoderDecoder``, the whole detector with all its heads);
* ``FLOPs``: fvcore-style multiply-accumulates of one image, attention matmuls included
  (:func:`mmhybrid.analysis.count_complexity`) of the measured module: the classifier (logits),
  the ``EncoderDecoder`` in tensor mode (decode-head logits), or the detector's backbone + neck
  (its heads end in data-dependent post-processing). These are the ``model`` figures of
  ``tools/analysis_tools/get_flops.py``.

The metafiles are edited line by line, so comments, key order, quoting and blank lines are kept;
the result is re-parsed and must differ from the original only in the written values, and each
metafile is replaced atomically (a temporary file renamed into place). A value
already present that differs from the computed one by more than ``--tolerance`` (0.5 %) is
reported and kept unless ``--overwrite`` is given; closer values are replaced by the exact
count. Examples::

    python tools/analysis_tools/update_metafile_metadata.py              # fill in / refresh
    python tools/analysis_tools/update_metafile_metadata.py --check      # CI: exit 1 on drift
    python tools/analysis_tools/update_metafile_metadata.py --models 'topformer-t*' --dry-run
"""
import argparse
import copy
import fnmatch
import os.path as osp
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import yaml

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)  # a checkout

#: The metadata keys this tool owns, in the order they are inserted.
KEYS = ('Parameters', 'FLOPs')
DEFAULT_TOLERANCE = 0.005


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--root', default=ROOT, help='repository root (default: this checkout)')
    parser.add_argument('--models', nargs='+', metavar='NAME',
                        help='model names or shell patterns (e.g. "topformer-t*"); default all')
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument('--check', action='store_true',
                      help='write nothing; exit 1 if a value is missing or differs')
    mode.add_argument('--dry-run', action='store_true',
                      help='write nothing; print what would change')
    parser.add_argument('--overwrite', action='store_true',
                        help='also replace values more than --tolerance off')
    parser.add_argument('--tolerance', type=float, default=DEFAULT_TOLERANCE,
                        help='relative difference below which an existing value is refreshed '
                        'without being reported as a mismatch (default: %(default)s)')
    parser.add_argument('--threads', type=int, default=None,
                        help='PyTorch intra-op threads (default: PyTorch\'s own choice)')
    return parser.parse_args(argv)


if __name__ == '__main__':
    parse_args()  # --help and usage errors answer before torch and OpenMMLab are imported

from mmhybrid.analysis import (  # noqa: E402
    count_complexity,
    count_parameters,
    set_num_threads,
)
from mmhybrid.apis.metafiles import load_model_index  # noqa: E402
from mmhybrid.tasks import build_task_model  # noqa: E402
from mmhybrid.utils.fileio import atomic_output  # noqa: E402


@dataclass
class Measurement:
    """Computed counts of one config."""
    params: int
    flops: int
    input_shape: tuple
    scope: str

    def as_metadata(self) -> Dict[str, int]:
        return {'Parameters': self.params, 'FLOPs': self.flops}


def measure(config: str) -> Measurement:
    """Parameters (whole task model) and FLOPs (measured module, one image) of ``config``."""
    task = build_task_model(config)
    result = count_complexity(task.module, task.make_inputs())
    return Measurement(params=count_parameters(task.model), flops=result.flops,
                       input_shape=tuple(task.input_shape), scope=task.scope)


@dataclass
class Change:
    """What happens to one metadata value of one model."""
    model: str
    key: str
    old: object
    new: int
    status: str  # 'missing', 'same', 'close', 'mismatch'

    @property
    def relative_difference(self) -> Optional[float]:
        """``(old - new) / new``; ``None`` when the old value is not a number."""
        if not isinstance(self.old, (int, float)) or isinstance(self.old, bool):
            return None
        return (self.old - self.new) / max(abs(self.new), 1)

    def describe(self) -> str:
        if self.status == 'missing':
            return f'{self.model}: {self.key} missing -> {self.new}'
        rel = self.relative_difference
        diff = f'{100 * rel:+.2f}%' if rel is not None else 'not a number'
        return f'{self.model}: {self.key} {self.old} -> {self.new} ({diff})'


def classify(model: str, key: str, old, new: int, tolerance: float) -> Change:
    """Compare an existing metadata value with the computed one."""
    if old is None:
        status = 'missing'
    elif isinstance(old, bool) or not isinstance(old, (int, float)):
        status = 'mismatch'
    elif old == new:
        status = 'same'
    elif abs(old - new) <= tolerance * max(abs(new), 1):
        status = 'close'
    else:
        status = 'mismatch'
    return Change(model, key, old, new, status)


# ------------------------------------------------------------------------------------------
# Line-based metafile editing
# ------------------------------------------------------------------------------------------
_NAME_RE = re.compile(r'^(?P<indent>\s*)- Name:\s*(?P<name>.+?)\s*$')


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(' '))


def _is_content(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith('#')


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in '\'"':
        return value[1:-1]
    return value


def _block_end(lines: List[str], start: int, parent_indent: int) -> int:
    """Index after the last line of the block opened at ``start`` (lines indented deeper than
    ``parent_indent``; blank and comment lines inside the block belong to it)."""
    end = start + 1
    last = start + 1
    while end < len(lines):
        if _is_content(lines[end]):
            if _indent(lines[end]) <= parent_indent:
                break
            last = end + 1
        end += 1
    return last


def set_metadata_values(text: str, model: str, values: Dict[str, int]) -> str:
    """Return ``text`` (a metafile) with ``Metadata: <key>: <value>`` set for ``model``.

    Only the lines of those keys are replaced or inserted (a missing ``Parameters`` goes first
    in ``Metadata``, a missing ``FLOPs`` right after ``Parameters``; a missing ``Metadata``
    block goes after ``Config``). Raises ``ValueError`` when the model is not in ``Models`` or
    its layout is not the block style this tool edits.
    """
    lines = text.split('\n')
    try:
        models_at = next(i for i, line in enumerate(lines) if re.match(r'^Models:\s*$', line))
    except StopIteration:
        raise ValueError('the metafile has no top-level "Models:" list') from None
    item_at = None
    for i in range(models_at + 1, len(lines)):
        match = _NAME_RE.match(lines[i])
        if match and _unquote(match['name']) == model:
            item_at = i
            break
        if _is_content(lines[i]) and _indent(lines[i]) == 0 and not lines[i].startswith('-'):
            break  # the next top-level key
    if item_at is None:
        raise ValueError(f'model {model!r} is not an item of "Models:"')
    dash_indent = _indent(lines[item_at])
    key_indent = dash_indent + 2
    item_end = _block_end(lines, item_at, dash_indent)

    def key_line(key, start, end, indent):
        pattern = re.compile(rf'^ {{{indent}}}{re.escape(key)}:(\s|$)')
        return next((i for i in range(start, end) if pattern.match(lines[i])), None)

    metadata_at = key_line('Metadata', item_at + 1, item_end, key_indent)
    if metadata_at is None:
        anchor = key_line('Config', item_at + 1, item_end, key_indent)
        anchor = item_at if anchor is None else anchor
        lines.insert(anchor + 1, ' ' * key_indent + 'Metadata:')
        metadata_at = anchor + 1
        item_end += 1
    if lines[metadata_at].split(':', 1)[1].strip():
        raise ValueError(f'{model}: "Metadata:" is written in flow style; rewrite it as a block '
                         'mapping (one key per line) so that it can be edited line by line.')
    metadata_end = _block_end(lines, metadata_at, key_indent)
    children = [i for i in range(metadata_at + 1, metadata_end) if _is_content(lines[i])]
    child_indent = _indent(lines[children[0]]) if children else key_indent + 2

    for key in KEYS:
        if key not in values:
            continue
        new_line = f'{" " * child_indent}{key}: {int(values[key])}'
        at = key_line(key, metadata_at + 1, metadata_end, child_indent)
        if at is not None:
            lines[at] = new_line
            continue
        previous = KEYS[:KEYS.index(key)]
        after = [key_line(k, metadata_at + 1, metadata_end, child_indent) for k in previous]
        after = [i for i in after if i is not None]
        insert_at = max(after) + 1 if after else metadata_at + 1
        lines.insert(insert_at, new_line)
        metadata_end += 1
    return '\n'.join(lines)


def _expected(data: dict, updates: Dict[str, Dict[str, int]]) -> dict:
    expected = copy.deepcopy(data)
    for item in expected.get('Models') or []:
        if item.get('Name') in updates:
            metadata = item.get('Metadata')
            if metadata is None:
                metadata = item['Metadata'] = {}
            metadata.update(updates[item['Name']])
    return expected


def update_metafile_text(text: str, updates: Dict[str, Dict[str, int]]) -> str:
    """Apply ``{model: {key: value}}`` to a metafile's text and check that the parsed result
    differs from the original only in those values."""
    new_text = text
    for model, values in updates.items():
        new_text = set_metadata_values(new_text, model, values)
    if yaml.safe_load(new_text) != _expected(yaml.safe_load(text), updates):
        raise RuntimeError('editing the metafile changed more than the metadata values; '
                           'this is a bug in update_metafile_metadata.py')
    return new_text


# ------------------------------------------------------------------------------------------
# Driver
# ------------------------------------------------------------------------------------------
@dataclass
class Report:
    changes: List[Change] = field(default_factory=list)
    written: Dict[str, int] = field(default_factory=dict)  # metafile -> values written
    errors: List[str] = field(default_factory=list)

    def by_status(self, status: str) -> List[Change]:
        return [c for c in self.changes if c.status == status]


def update_metafiles(root: str = ROOT,
                     models: Optional[Sequence[str]] = None,
                     write: bool = True,
                     overwrite: bool = False,
                     tolerance: float = DEFAULT_TOLERANCE,
                     log=print) -> Report:
    """Compute and (if ``write``) store the counts of the models of ``root/model-index.yml``.

    Args:
        root: repository root (holds ``model-index.yml``; config paths are relative to it).
        models: model names or shell patterns to restrict to (default: all).
        write: write the metafiles; otherwise only report.
        overwrite: also replace values that differ by more than ``tolerance``.
        tolerance: relative difference up to which an existing value is silently refreshed.
        log: where progress lines go.
    """
    _, entries = load_model_index(root)
    if models:
        selected = [e for e in entries if any(fnmatch.fnmatchcase(e.name, p) for p in models)]
        unmatched = [p for p in models if not any(fnmatch.fnmatchcase(e.name, p)
                                                  for e in entries)]
        if unmatched:
            raise ValueError(f'--models {unmatched} match no model of model-index.yml')
        entries = selected
    report = Report()
    updates: Dict[str, Dict[str, Dict[str, int]]] = {}
    for entry in entries:
        start = time.perf_counter()
        try:
            counts = measure(osp.join(root, entry.config))
        except Exception as exc:  # report every failing config, then exit non-zero
            report.errors.append(f'{entry.name}: {type(exc).__name__}: {exc}')
            log(f'{entry.name}: FAILED ({type(exc).__name__}: {exc})')
            continue
        height, width = counts.input_shape
        log(f'{entry.name}: {counts.params / 1e6:.3f} M params, {counts.flops / 1e9:.3f} G FLOPs '
            f'at {height}x{width} ({time.perf_counter() - start:.1f} s)')
        for key, new in counts.as_metadata().items():
            change = classify(entry.name, key, entry.metadata.get(key), new, tolerance)
            report.changes.append(change)
            if change.status in ('missing', 'close') or (change.status == 'mismatch'
                                                         and overwrite):
                updates.setdefault(entry.metafile, {}).setdefault(entry.name, {})[key] = new
    if write:
        for metafile, values in updates.items():
            path = osp.join(root, metafile)
            with open(path, encoding='utf-8') as f:
                text = f.read()
            new_text = update_metafile_text(text, values)
            if new_text != text:
                with atomic_output(path) as tmp, open(tmp, 'w', encoding='utf-8') as f:
                    f.write(new_text)  # renamed into place: never a half-written metafile
            report.written[metafile] = sum(len(v) for v in values.values())
    return report


def main(argv=None) -> int:
    args = parse_args(argv)
    set_num_threads(args.threads)
    start = time.perf_counter()
    report = update_metafiles(args.root, args.models, write=not (args.check or args.dry_run),
                              overwrite=args.overwrite, tolerance=args.tolerance)
    missing, close = report.by_status('missing'), report.by_status('close')
    mismatch = report.by_status('mismatch')
    verb = 'would' if (args.check or args.dry_run) else 'did'
    for title, changes in (('missing values', missing), ('refreshed (within tolerance)', close)):
        if changes:
            print(f'\n{title} ({verb} write):')
            for change in changes:
                print('  ' + change.describe())
    if mismatch:
        kept = 'overwritten' if args.overwrite and not (args.check or args.dry_run) else (
            'would be overwritten' if args.overwrite else 'kept; rerun with --overwrite to '
            'replace them')
        print(f'\nmismatches beyond {100 * args.tolerance:g}% ({kept}):')
        for change in mismatch:
            print('  ' + change.describe())
    for error in report.errors:
        print(f'error: {error}', file=sys.stderr)
    print(f'\n{len(report.changes) // len(KEYS) if report.changes else 0} models: '
          f'{len(missing)} missing, {len(close)} refreshed, {len(mismatch)} mismatches, '
          f'{len(report.errors)} errors; written: {sum(report.written.values())} values '
          f'({time.perf_counter() - start:.0f} s)')
    print(f'wrote {", ".join(sorted(report.written))}' if report.written else 'wrote nothing')
    if report.errors:
        return 1
    if args.check and (missing or close or mismatch):
        return 1
    if mismatch and not args.overwrite and not args.dry_run:
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
