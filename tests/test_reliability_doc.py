# Copyright (c) mmhybrid contributors. All rights reserved.
"""docs/en/reliability.md names the test behind every fault; those tests must exist."""
import os
import os.path as osp
import re

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def test_every_test_named_in_the_reliability_doc_exists():
    with open(osp.join(REPO, 'docs', 'en', 'reliability.md'), encoding='utf-8') as f:
        doc = f.read()
    defined = {}
    for root, _, files in os.walk(osp.join(REPO, 'tests')):
        for name in files:
            if name.endswith('.py'):
                path = osp.relpath(osp.join(root, name), REPO)
                with open(osp.join(REPO, path), encoding='utf-8') as f:
                    defined[path] = set(re.findall(r'^def (test_\w+)', f.read(), re.M))
    all_tests = set().union(*defined.values())
    files = re.findall(r'`(tests/[\w/]+\.py)', doc)
    names = re.findall(r'(?:::|`)(test_\w+)`', doc)
    assert files and names
    assert [f for f in files if f not in defined] == []
    assert [n for n in names if n not in all_tests] == []
