# Copyright (c) mmhybrid contributors. All rights reserved.
"""mmhybrid.utils.progress: a bar on stderr only when asked for and stderr is a terminal."""
import io
import sys

from tqdm import tqdm

from mmhybrid.utils.progress import SilentBar, progress_bar, progress_enabled


class FakeTerminal(io.StringIO):

    def isatty(self):
        return True


def test_no_bar_off_a_terminal_or_when_turned_off(monkeypatch, capsys):
    monkeypatch.setattr(sys, 'stderr', io.StringIO())
    assert not progress_enabled(True)
    bar = progress_bar(total=3, desc='calibration')
    assert isinstance(bar, SilentBar)
    with bar:
        bar.update(2)
        bar.set_postfix_str('x')
    assert bar.n == 2 and sys.stderr.getvalue() == ''
    assert list(progress_bar(iter('ab'))) == ['a', 'b']
    monkeypatch.setattr(sys, 'stderr', FakeTerminal())
    assert isinstance(progress_bar(total=3, progress=False), SilentBar)


def test_bar_on_a_terminal_writes_to_stderr_only(monkeypatch, capsys):
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, 'stderr', terminal)
    assert progress_enabled(True)
    with progress_bar(total=2, desc='models', unit='model') as bar:
        assert isinstance(bar, tqdm)
        bar.update(2)
    assert 'models' in terminal.getvalue() and '2/2' in terminal.getvalue()
    assert capsys.readouterr().out == ''
