"""Terminal manners: progress bars only on a terminal, one summary line per stage, clean errors."""

from __future__ import annotations

import functools
import os
import sys
import time
from typing import Callable, Iterable, Iterator, TypeVar

from src.errors import UserError

T = TypeVar("T")


def progress(it: Iterable[T], desc: str = "", total: int | None = None, initial: int = 0) -> Iterable[T]:
    """A tqdm bar on stderr when it is a terminal. Otherwise (logs, CI, DVC) a plain line on stderr at
    most every DD_PROGRESS_SECONDS (default 60; 0: none), so a long run in a log still says how far it is."""
    if total is None and hasattr(it, "__len__"):
        total = initial + len(it)
    if sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(it, desc=desc, total=total, initial=initial, leave=False, dynamic_ncols=True)
    every = _heartbeat_seconds()
    return _heartbeat(it, desc, total, initial, every) if every > 0 else it


def _heartbeat_seconds() -> float:
    text = os.environ.get("DD_PROGRESS_SECONDS", "60")
    try:
        every = float(text)
    except ValueError:
        every = -1.0
    if not every >= 0:  # also catches nan
        raise UserError(f"DD_PROGRESS_SECONDS={text!r}: expected seconds between progress lines, >= 0 (0: none)")
    return every


def _heartbeat(it: Iterable[T], desc: str, total: int | None, initial: int, every: float) -> Iterator[T]:
    """Yield from `it`, writing `desc: n/total (p%), elapsed, ~left` once `every` seconds have passed
    since the last line. Reads only the host clock: no device sync."""
    t0 = last = time.monotonic()
    done = initial
    for item in it:
        yield item
        done += 1
        now = time.monotonic()
        if now - last >= every:
            last = now
            print(progress_line(desc, done, total, initial, now - t0), file=sys.stderr, flush=True)


def progress_line(desc: str, done: int, total: int | None, initial: int, elapsed: float) -> str:
    """`distill x: 750/1500 (50%), 4m10s elapsed, ~4m10s left`; the rate counts only this run's steps
    (a resumed run starts at `initial`)."""
    head = f"{desc or 'progress'}: {done}" + (f"/{total} ({100 * done // max(total, 1)}%)" if total else "")
    line = f"{head}, {_clock(elapsed)} elapsed"
    if total and done > initial:
        line += f", ~{_clock(elapsed / (done - initial) * (total - done))} left"
    return line


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    h, m = divmod(s // 60, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s % 60:02d}s" if m else f"{s}s"


def say(msg: str) -> None:
    print(msg, flush=True)


def cli_errors(fn: Callable) -> Callable:
    """Turn a UserError into one line on stderr and exit 2; anything else exits 1 with the traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UserError as err:
            print(f"error: {err}", file=sys.stderr)
            raise SystemExit(2) from None

    return wrapper
