# Copyright (c) mmhybrid contributors. All rights reserved.
"""One progress bar for every long loop: downloads, int8 calibration, latency tables.

:func:`progress_bar` is a tqdm bar on stderr, shown only when asked for (``progress=True``, the
tools' default; ``--no-progress`` turns it off) *and* stderr is a terminal: logs, pipes and
captured test output never see a bar, and stdout (tables, JSON, the final line a tool prints)
is never touched. Otherwise, or without tqdm, it returns a :class:`SilentBar`, which accepts the
same calls and does nothing.
"""
import sys
from typing import Any, Iterable, Optional

__all__ = ['progress_bar', 'progress_enabled', 'SilentBar']


class SilentBar:
    """The calls made on a bar (``update``, ``set_postfix_str``, ``write``, ``close``, iteration,
    ``with``), doing nothing; ``write`` prints the line to stdout, like tqdm's."""

    def __init__(self, iterable: Optional[Iterable] = None, total: Optional[int] = None):
        self.iterable = iterable
        self.total = total
        self.n = 0

    def __iter__(self):
        for item in self.iterable or ():
            yield item
            self.n += 1

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix_str(self, s: str = '', refresh: bool = True) -> None:
        pass

    def write(self, message: str) -> None:
        print(message, flush=True)

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def progress_enabled(progress: bool = True, stream: Any = None) -> bool:
    """Whether a bar is shown: ``progress`` and ``stream`` (default: stderr) is a terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(progress) and stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def progress_bar(iterable: Optional[Iterable] = None, total: Optional[int] = None,
                 desc: Optional[str] = None, unit: str = 'it', progress: bool = True,
                 **kwargs):
    """A tqdm bar on stderr over ``iterable`` or up to ``total``, or a :class:`SilentBar` when
    ``progress`` is false, stderr is no terminal or tqdm is missing. ``kwargs`` go to tqdm
    (e.g. ``initial``, ``unit_scale``, ``leave``)."""
    if total is None and iterable is not None and hasattr(iterable, '__len__'):
        total = len(iterable)
    if not progress_enabled(progress):
        return SilentBar(iterable, total)
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm comes with mmengine's dependencies
        return SilentBar(iterable, total)
    return tqdm(iterable, total=total, desc=desc, unit=unit, file=sys.stderr, **kwargs)
