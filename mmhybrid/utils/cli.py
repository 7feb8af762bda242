# Copyright (c) mmhybrid contributors. All rights reserved.
"""Command-line pieces shared by the tools."""
from mmengine.config import DictAction

__all__ = ['ConfigOptionsAction']


class ConfigOptionsAction(DictAction):
    """MMEngine's ``--cfg-options`` action, except that a single value keeps its spaces.

    ``DictAction`` removes every space from a value so that ``[1, 2]`` parses as a list;
    a path such as ``data_root="/data/my sets/ade"`` silently became ``/data/mysets/ade``. Values
    that are not a list or tuple (no brackets, no comma) are kept as written (quotes stripped);
    lists, tuples, numbers and booleans parse as before.
    """

    @staticmethod
    def _parse_iterable(val: str):
        text = val.strip('\'"')
        if ' ' in text and ',' not in text and not text.startswith(('[', '(')):
            return DictAction._parse_int_float_bool(text)
        return DictAction._parse_iterable(val)
