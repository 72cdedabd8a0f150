"""Small filesystem helpers: md5, all-or-nothing file and directory writes, and reading back the
JSON files that stages hand to each other."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Iterator

from src.errors import DataError


def md5sum(path: str | Path, chunk: int = 1 << 20) -> str:
    """md5 of a file (the hash DVC records), computed once per process for an unchanged file."""
    st = os.stat(path)
    return _md5(str(Path(path).resolve()), st.st_size, st.st_mtime_ns, chunk)


@functools.lru_cache(maxsize=256)
def _md5(path: str, size: int, mtime_ns: int, chunk: int) -> str:  # size and mtime key the cache
    h = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def atomic_dir(target: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling directory; on success it replaces `target`, on error it is removed.

    Either the old contents or the complete new contents are at `target`, never a half-written mix.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    tmp.rename(target)
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_file(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to `target`; renamed onto it only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(target)


def write_json(path: str | Path, obj: dict) -> None:
    """Write `obj` as indented JSON, all or nothing."""
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2) + "\n")


def read_json(path: str | Path) -> dict:
    """The JSON object in `path` (an existing file: a metrics file, a NAS study's results, the experts
    manifest). They are written by `write_json`, but a user can edit or truncate one; reading it back
    then fails in one line naming the file, not with a parser traceback from deep inside a stage."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not valid JSON ({err}); rebuild it with `dvc repro`") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: holds a JSON {type(data).__name__}, expected an object; rebuild it with `dvc repro`")
    return data
