# Copyright (c) mmhybrid contributors. All rights reserved.
"""A short run's terminal: a screenful, while the work dir keeps the whole log.

A 20-iteration run of a stock MMSegmentation config prints about 640 lines: the environment, the
whole config, the hook table and a 150-row per-class table, around ten progress lines.
``tools/train.py --iters N`` (or ``--epochs N``) therefore builds its runner with
:func:`quiet_console`: the terminal shows the loops' progress and metric lines, the checkpoint
saves, errors, and the warnings a user can act on; the log file under
``<work_dir>/<timestamp>/`` receives every line, as in any MMEngine run.
"""
import logging
import re
from typing import Type

__all__ = ['LIBRARY_NOISE', 'ShortRunConsoleFilter', 'quiet_console']

#: INFO lines a short run still prints: progress and metrics of the loops, checkpoint saves.
_KEPT_INFO = re.compile(
    r'(Epoch|Iter)\((train|val|test)\)|Saving checkpoint|The best checkpoint|'
    r'Checkpoints will be saved to')

#: Warnings every run of a stock config logs that no user setting removes (the libraries'
#: own deprecation notices about their own code); the log file keeps them.
LIBRARY_NOISE = (
    'The prefix is not set in metric class',  # MMEngine: mmseg's IoUMetric has no prefix
    '"FileClient" will be deprecated',  # mmseg's LoadAnnotations uses the old client
    '"HardDiskBackend" is the alias of "LocalBackend"',  # ... with the old backend name
)


class ShortRunConsoleFilter(logging.Filter):
    """Passes errors, warnings other than :data:`LIBRARY_NOISE`, and progress lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            return True
        message = record.getMessage()
        if record.levelno >= logging.WARNING:
            return not message.startswith(LIBRARY_NOISE)
        return bool(_KEPT_INFO.match(message))


def quiet_console(runner_cls: Type) -> Type:
    """A subclass of the runner class whose terminal output passes
    :class:`ShortRunConsoleFilter`; its log file is unfiltered. Subclassing is the one way in:
    MMEngine builds the logger and logs the environment and config inside ``__init__``."""

    class QuietConsoleRunner(runner_cls):

        def build_logger(self, *args, **kwargs):
            logger = super().build_logger(*args, **kwargs)
            for handler in logger.handlers:
                if type(handler) is logging.StreamHandler and not any(
                        isinstance(f, ShortRunConsoleFilter) for f in handler.filters):
                    handler.addFilter(ShortRunConsoleFilter())
            return logger

    return QuietConsoleRunner
