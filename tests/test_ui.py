"""Terminal manners: progress off a terminal is a plain line now and then, never a changed iterable."""

import pytest

from src.errors import UserError
from src.ui import progress, progress_line


def test_progress_lines_say_how_far_and_how_long_is_left():
    assert progress_line("distill x", 750, 1500, 0, 250.0) == "distill x: 750/1500 (50%), 4m10s elapsed, ~4m10s left"
    # a resumed run: the rate counts only the 250 steps this run made (500 -> 750) in 100 s
    assert progress_line("distill x", 750, 1500, 500, 100.0) == "distill x: 750/1500 (50%), 1m40s elapsed, ~5m00s left"
    assert progress_line("", 3, None, 0, 7200.0) == "progress: 3, 2h00m elapsed"
    assert progress_line("e", 0, 10, 0, 0.4) == "e: 0/10 (0%), 0s elapsed"  # no step yet: no estimate


def test_off_a_terminal_progress_writes_lines_on_stderr_and_yields_every_item(monkeypatch, capsys):
    monkeypatch.setenv("DD_PROGRESS_SECONDS", "1e-9")  # a line after every item
    assert list(progress(range(2, 5), desc="d", initial=2)) == [2, 3, 4]
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert out == "" and len(lines) == 3
    assert [ln.split(",")[0] for ln in lines] == ["d: 3/5 (60%)", "d: 4/5 (80%)", "d: 5/5 (100%)"]
    assert lines[-1].endswith("~0s left")


def test_progress_lines_can_be_silenced_and_a_bad_setting_is_named(monkeypatch, capsys):
    monkeypatch.setenv("DD_PROGRESS_SECONDS", "0")
    items = [1, 2]
    assert progress(items) is items and capsys.readouterr().err == ""
    monkeypatch.setenv("DD_PROGRESS_SECONDS", "60")
    assert list(progress(iter(range(3)))) == [0, 1, 2] and capsys.readouterr().err == ""  # under a minute: quiet
    for bad in ("soon", "-1", "nan"):
        monkeypatch.setenv("DD_PROGRESS_SECONDS", bad)
        with pytest.raises(UserError, match=rf"DD_PROGRESS_SECONDS='{bad}': expected seconds between progress lines"):
            progress(range(3))
