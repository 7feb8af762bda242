# Copyright (c) mmhybrid contributors. All rights reserved.
"""What the tools' runners print on the terminal, and that the log file keeps every line."""

import pytest
from mmengine.runner import Runner

from mmhybrid.engine.console import LIBRARY_NOISE, console_runner

EMPTY_COCO = 'The testing results of the whole dataset is empty.'
NO_BEST = ('Since `metrics` is an empty dict, the behavior to save the best checkpoint will be '
           'skipped in this evaluation.')


@pytest.fixture
def runner_logger(tmp_path, capsys):
    """The logger a tools runner builds (``console_runner(Runner, quiet).build_logger``), a
    function giving what the terminal and the log file received."""
    built = []

    def build(quiet):
        runner_cls = console_runner(Runner, quiet)
        runner = runner_cls.__new__(runner_cls)  # only what build_logger reads
        runner._log_dir, runner._timestamp = str(tmp_path), f'run{len(built)}'
        runner._experiment_name = f'console-test-{tmp_path.name}-{quiet}'
        logger = runner.build_logger(log_level='INFO')
        built.append((logger, tmp_path / f'{runner.timestamp}.log'))
        return logger

    def read():
        logger, log_file = built[-1]
        for handler in logger.handlers:
            handler.flush()
        return capsys.readouterr().out, log_file.read_text()

    yield build, read
    for logger, _ in built:
        for handler in list(logger.handlers):
            handler.close()
            logger.removeHandler(handler)


def test_a_short_run_shows_progress_errors_and_actionable_warnings(runner_logger):
    build, read = runner_logger
    logger = build(quiet=True)
    logger.info('Config:\nmodel = dict(type="EncoderDecoder")')
    logger.info('per class results:')
    logger.info('Iter(train) [ 2/20]  lr: 1.0000e-04  loss: 2.5')
    logger.info('Epoch(val) [3][10/10]    accuracy/top1: 41.0')
    logger.info('Saving checkpoint at 20 iterations')
    logger.warning('The model and loaded state dict do not match exactly')
    logger.error('CUDA out of memory')
    for noise in LIBRARY_NOISE:
        logger.warning(noise + ' (library detail)')
    terminal, log_file = read()
    lines = terminal.splitlines()
    assert len(lines) == 5
    for kept in ('Iter(train) [ 2/20]', 'Epoch(val) [3][10/10]', 'Saving checkpoint',
                 'WARNING - The model and loaded', 'CUDA out of memory'):
        assert sum(kept in line for line in lines) == 1, (kept, terminal)
    assert 'Config:' not in terminal and 'per class' not in terminal
    assert 'library detail' not in terminal
    assert 'Config:' in log_file and 'per class results' in log_file
    assert log_file.count('library detail') == len(LIBRARY_NOISE)


@pytest.mark.parametrize('quiet', [False, True])
def test_an_empty_detection_result_is_explained_not_an_error_or_warning(runner_logger, quiet):
    build, read = runner_logger
    logger = build(quiet=quiet)
    logger.error(EMPTY_COCO)
    logger.warning(NO_BEST)
    logger.error('a real error')
    logger.warning(LIBRARY_NOISE[0] + ' IoUMetric.')
    terminal, log_file = read()
    errors = [line for line in terminal.splitlines() if 'ERROR' in line]
    assert len(errors) == 1 and errors[0].endswith('a real error'), terminal
    assert 'WARNING' not in terminal
    assert 'INFO - No detection on the whole evaluation set' in terminal
    assert 'INFO - No best checkpoint from this evaluation' in terminal
    assert EMPTY_COCO not in terminal and NO_BEST not in terminal
    assert EMPTY_COCO in log_file and 'ERROR' in log_file  # the file keeps the library's line
    assert LIBRARY_NOISE[0] in log_file and LIBRARY_NOISE[0] not in terminal
