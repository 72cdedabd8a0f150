"""What the settings sweeps (datadam_sweep.py, pad_sweep.py) share: their common flags, variants and provenance.
A profile other than the file's own comes from `src.config.load_params(path, preset)`."""

from __future__ import annotations

import argparse
import platform
import shlex
import sys
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError

from src.config import one_line
from src.errors import ConfigError
from src.tracking import cpu_name, git_state


def sweep_parser(doc: str, models: int, ipc: int) -> argparse.ArgumentParser:
    """The flags every sweep takes, so the two read alike: variants, the random anchor, the set size,
    the evaluation models and the params file with its profile."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--variant", action="append", default=[], help="name:key=value,... over the method's settings")
    ap.add_argument("--anchor", action="store_true", help="also score the pipeline's random real subset the same way")
    ap.add_argument("--ipc", type=int, default=ipc, help="images per class of the distilled set")
    ap.add_argument("--models", type=int, default=models, help="evaluation models per variant")
    ap.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file (its preset applies)")
    ap.add_argument("--preset", default=None, help="profile to apply instead of the file's own `preset:` (e.g. paper)")
    return ap


def parse_variant(text: str) -> tuple[str, dict]:
    """`name:key=value,...` -> (name, {key: YAML value}); an empty body keeps the settings as they are.
    A dotted key (`model.norm=batch`) names a field inside a nested setting (see `with_overrides`)."""
    name, _, body = text.partition(":")
    updates = {}
    for item in filter(None, body.split(",")):
        key, _, value = item.partition("=")
        updates[key] = yaml.safe_load(value)
    return name, updates


def with_overrides(settings: dict, updates: dict) -> dict:
    """A copy of `settings` with `updates` applied; `a.b` replaces field b of the mapping under a, so
    one field of a model spec changes without restating the others (commas cannot sit in a variant)."""
    out = dict(settings)
    for key, value in updates.items():
        head, dot, rest = key.partition(".")
        if not dot:
            out[key] = value
        elif isinstance(out.get(head), dict):
            out[head] = with_overrides(out[head], {rest: value})
        else:
            raise ConfigError(f"variant key {key!r}: {head!r} is not a nested setting")
    return out


def variants(texts: list[str], base: BaseModel, extra: dict | None = None,
             flag: str = "--variant") -> list[tuple[str, dict, BaseModel]]:
    """Every `--variant` parsed and validated against `base`'s settings before any work starts, so a
    typo in the last variant fails in one line at once instead of after the first variants' runs."""
    out = []
    for text in texts:
        name, updates = parse_variant(text)
        try:
            cfg = type(base).model_validate(with_overrides(base.model_dump(), {**updates, **(extra or {})}))
        except ValidationError as err:
            raise ConfigError(one_line(err, f"{flag} {text!r}")) from None
        out.append((name, updates, cfg))
    return out


def provenance() -> dict:
    """Where a row came from: the machine, the commit ('+dirty' with uncommitted changes, read by the
    same helper that tags every MLflow run) and the exact command, so a row can be rerun without guessing."""
    state = git_state()
    commit = state["git_commit"][:7] + ("+dirty" if state["git_dirty"] == "true" else "")
    return {"machine": f"{platform.machine()} {cpu_name()}", "commit": commit,
            "command": shlex.join(["python", *sys.argv])}
