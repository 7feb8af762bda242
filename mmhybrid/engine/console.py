# Copyright (c) mmhybrid contributors. All rights reserved.
"""A short run's terminal: a screenful, while the work dir keeps the whole log.

A 20-iteration run of a stock MMSegmentation config prints about 640 lines: the environment, the
whole config, the hook table and a 150-row per-class table, around ten progress lines.
``tools/train.py --iters N`` (or ``--epochs N``) therefore builds its runner with
:func:`quiet_console`: the terminal shows the loops' progress and metric lines, the checkpoint
saves, errors, and the warnings a user can act on; the log file under
``<work_dir>/<timestamp>/`` receives every line, as in any MMEngine run.

Every runner the tools build (short or not) also passes its terminal lines through
:class:`ExplainedLibraryErrors`: a run that succeeds prints no ``ERROR`` line for a result
that is expected, such as a briefly trained detector with no detection to score.
"""
import logging
import re
from typing import Type

__all__ = ['ExplainedLibraryErrors', 'LIBRARY_NOISE', 'ShortRunConsoleFilter', 'console_runner']

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


class ExplainedLibraryErrors(logging.Filter):
    """Shows the library ``ERROR`` lines that describe an expected outcome, not a failure, as a
    ``WARNING`` that says what happened, on one handler (the terminal); the record itself, and
    so the log file, is left as it is."""

    #: message fragment -> what it means.
    EXPLANATIONS = {
        'The testing results of the whole dataset is empty':
        'the detector made no detection on the whole evaluation set, so the COCO metrics are '
        'empty (expected of a detector trained only briefly)',
    }

    def __init__(self, handler: logging.Handler):
        super().__init__()
        self.handler = handler

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.ERROR:
            return True
        message = record.getMessage()
        for fragment, explanation in self.EXPLANATIONS.items():
            if fragment in message:
                self.handler.handle(logging.makeLogRecord(dict(
                    record.__dict__, levelno=logging.WARNING, levelname='WARNING',
                    msg=explanation, args=None)))
                return False
        return True


def console_runner(runner_cls: Type, quiet: bool = False) -> Type:
    """A subclass of the runner class whose terminal output passes
    :class:`ExplainedLibraryErrors` and, when ``quiet``, :class:`ShortRunConsoleFilter`; its
    log file is unfiltered. Subclassing is the one way in: MMEngine builds the logger and logs
    the environment and the config inside ``Runner.__init__``."""

    class ConsoleRunner(runner_cls):

        def build_logger(self, *args, **kwargs):
            logger = super().build_logger(*args, **kwargs)
            for handler in logger.handlers:
                if type(handler) is logging.StreamHandler:
                    if not any(isinstance(f, ExplainedLibraryErrors) for f in handler.filters):
                        handler.addFilter(ExplainedLibraryErrors(handler))
                        if quiet:
                            handler.addFilter(ShortRunConsoleFilter())
            return logger

    return ConsoleRunner
