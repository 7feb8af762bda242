# Copyright (c) mmhybrid contributors. All rights reserved.
"""What the tools print on the terminal: a screenful for short runs, no library chatter, and no
``ERROR`` line in a run that succeeds; the log file in the work dir keeps every line.

A 20-iteration run of a stock MMSegmentation config prints about 640 lines: the environment, the
whole config, the hook table and a 150-row per-class table, around ten progress lines.
``tools/train.py --iters N`` (or ``--epochs N``) therefore builds its runner with
``console_runner(..., quiet=True)``: the terminal shows the loops' progress and metric lines,
the checkpoint saves, errors, and the warnings a user can act on; the log file under
``<work_dir>/<timestamp>/`` receives every line, as in any MMEngine run.

Every console the tools log to (runners of any length, and the default MMEngine logger of
tools that build an evaluator without a runner: :func:`quiet_library_noise`) also drops the
libraries' own deprecation chatter (:data:`LIBRARY_NOISE`) and shows library ``ERROR`` or
``WARNING`` lines that describe an expected result, such as a briefly trained detector with no
detection to score, as the ``INFO`` line that says so (:class:`ExplainedLibraryMessages`).
"""
import logging
import re
from typing import Type

from mmengine.logging import MMLogger

__all__ = [
    'ExplainedLibraryMessages', 'LIBRARY_NOISE', 'LibraryNoiseFilter', 'ShortRunConsoleFilter',
    'console_runner', 'quiet_library_noise'
]

#: INFO lines a short run still prints: progress and metrics of the loops, checkpoint saves.
_KEPT_INFO = re.compile(
    r'(Epoch|Iter)\((train|val|test)\)|Saving checkpoint|The best checkpoint|'
    r'Checkpoints will be saved to')

#: Warnings every run of a stock config logs that no user setting removes (the libraries'
#: notices about their own code); the log file keeps them.
LIBRARY_NOISE = (
    'The prefix is not set in metric class',  # MMEngine: mmseg's IoUMetric has no prefix
    '"FileClient" will be deprecated',  # mmseg's LoadAnnotations uses the old client
    '"HardDiskBackend" is the alias of "LocalBackend"',  # ... with the old backend name
)


class LibraryNoiseFilter(logging.Filter):
    """Drops the warnings of :data:`LIBRARY_NOISE`."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno == logging.WARNING
                    and record.getMessage().startswith(LIBRARY_NOISE))


class ShortRunConsoleFilter(logging.Filter):
    """Passes errors, warnings, progress lines and the explanations of
    :class:`ExplainedLibraryMessages`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING or getattr(record, 'explained', False):
            return True
        return bool(_KEPT_INFO.match(record.getMessage()))


class ExplainedLibraryMessages(logging.Filter):
    """Shows library ``ERROR``/``WARNING`` lines that describe an expected outcome, not a
    failure, as an ``INFO`` line that says what happened, on one handler (the terminal); the
    record itself, and so the log file, is left as it is."""

    #: (level, message fragment) -> what it means.
    EXPLANATIONS = {
        (logging.ERROR, 'The testing results of the whole dataset is empty'):
        'No detection on the whole evaluation set, so the COCO metrics are empty (expected of '
        'a detector trained only briefly).',
        (logging.WARNING, 'Since `metrics` is an empty dict, the behavior to save the best'):
        'No best checkpoint from this evaluation: it produced no metrics.',
    }

    def __init__(self, handler: logging.Handler):
        super().__init__()
        self.handler = handler

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno not in (logging.ERROR, logging.WARNING):
            return True
        message = record.getMessage()
        for (level, fragment), explanation in self.EXPLANATIONS.items():
            if record.levelno == level and fragment in message:
                self.handler.handle(logging.makeLogRecord(dict(
                    record.__dict__, levelno=logging.INFO, levelname='INFO', msg=explanation,
                    args=None, explained=True)))
                return False
        return True


def _filter_console(logger: logging.Logger, quiet: bool = False) -> None:
    """Add the console filters to the logger's terminal handlers (once)."""
    for handler in logger.handlers:
        if type(handler) is logging.StreamHandler and not any(
                isinstance(f, ExplainedLibraryMessages) for f in handler.filters):
            handler.addFilter(LibraryNoiseFilter())
            handler.addFilter(ExplainedLibraryMessages(handler))
            if quiet:
                handler.addFilter(ShortRunConsoleFilter())


def quiet_library_noise() -> None:
    """Filter the terminal of MMEngine's current logger as a runner's (not ``quiet``), for the
    tools that build evaluators or datasets without a runner."""
    _filter_console(MMLogger.get_current_instance())


def console_runner(runner_cls: Type, quiet: bool = False) -> Type:
    """A subclass of the runner class whose terminal output is filtered (module docstring;
    ``quiet``: :class:`ShortRunConsoleFilter` too); its log file is not. Subclassing is the one
    way in: MMEngine builds the logger and logs the environment and the config inside
    ``Runner.__init__``."""

    class ConsoleRunner(runner_cls):

        def build_logger(self, *args, **kwargs):
            logger = super().build_logger(*args, **kwargs)
            _filter_console(logger, quiet)
            return logger

    return ConsoleRunner
