"""Terminal manners: progress bars only on a terminal, one summary line per stage, clean errors."""

from __future__ import annotations

import functools
import sys
from typing import Callable, Iterable, TypeVar

from src.errors import UserError

T = TypeVar("T")


def progress(it: Iterable[T], desc: str = "", total: int | None = None, initial: int = 0) -> Iterable[T]:
    """A tqdm bar on stderr when it is a terminal; the bare iterable otherwise (logs, CI, DVC)."""
    if not sys.stderr.isatty():
        return it
    from tqdm import tqdm

    return tqdm(it, desc=desc, total=total, initial=initial, leave=False, dynamic_ncols=True)


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
