# Copyright (c) mmhybrid contributors. All rights reserved.
"""Regenerate the "Model zoo" tables of README.md from model-index.yml and the metafiles.

The tables live between the markers ``<!-- model-zoo:start ... -->`` and
``<!-- model-zoo:end -->`` under README's "## Model zoo" heading; everything else in the README
is left alone, and the README is replaced atomically. ``--check`` changes nothing and exits
with status 1 when the README is out of date (``tests/test_analysis/test_model_zoo.py`` does the
same). It also prints the metafile problems found by :func:`mmhybrid.analysis.check_metafiles`.
Examples::

    python tools/analysis_tools/sync_model_zoo.py           # rewrite README.md
    python tools/analysis_tools/sync_model_zoo.py --check   # CI: fail on drift
"""
import argparse
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)  # a checkout


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--root', default=ROOT, help='repository root')
    parser.add_argument('--readme', default=None, help='default: <root>/README.md')
    parser.add_argument('--check', action='store_true',
                        help='exit 1 if the README is out of date; write nothing')
    return parser.parse_args(argv)


if __name__ == '__main__':
    parse_args()  # --help and usage errors answer before torch and OpenMMLab are imported

from mmhybrid.analysis.model_zoo import (  # noqa: E402
    check_metafiles,
    extract_model_zoo,
    render_model_zoo,
    replace_model_zoo,
)
from mmhybrid.utils.fileio import atomic_output  # noqa: E402


def main(argv=None) -> int:
    args = parse_args(argv)
    readme = args.readme or osp.join(args.root, 'README.md')
    with open(readme, encoding='utf-8') as f:
        text = f.read()
    for problem in check_metafiles(args.root):
        print(f'metafile problem: {problem}', file=sys.stderr)
    section = render_model_zoo(args.root)
    current = extract_model_zoo(text)
    if current is not None and current.strip() == section.strip():
        print(f'{readme}: model zoo is up to date')
        return 0
    if args.check:
        print(f'{readme}: model zoo is out of date; run python '
              'tools/analysis_tools/sync_model_zoo.py', file=sys.stderr)
        return 1
    new_text = replace_model_zoo(text, section)
    with atomic_output(readme) as tmp, open(tmp, 'w', encoding='utf-8') as f:
        f.write(new_text)  # renamed into place: an interrupted run leaves the old README
    print(f'{readme}: model zoo updated')
    return 0


if __name__ == '__main__':
    sys.exit(main())
