# Copyright (c) mmhybrid contributors. All rights reserved.
"""``--cfg-options`` keeps the spaces of a single value (MMEngine's ``DictAction`` removed them,
so ``data_root="/data/my sets"`` silently read ``/data/mysets``)."""
import argparse

import pytest

from mmhybrid.utils.cli import ConfigOptionsAction


def parse(*options):
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=ConfigOptionsAction)
    return parser.parse_args(['--cfg-options', *options]).cfg_options


@pytest.mark.parametrize('option, value', [
    ('data_root=/data/my sets/ade', '/data/my sets/ade'),
    ('work_dir="/tmp/a b"', '/tmp/a b'),
    ('crop=[1, 2]', [1, 2]),
    ('scale=(320, 160)', (320, 160)),
    ('lr=0.5', 0.5),
    ('flag=False', False),
    ('names=a,b', ['a', 'b']),
])
def test_values_parse_and_single_values_keep_their_spaces(option, value):
    key = option.split('=')[0]
    assert parse(option) == {key: value}
