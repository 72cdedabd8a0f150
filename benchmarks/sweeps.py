"""What the settings sweeps (datadam_sweep.py, pad_sweep.py) share: variants, params, provenance."""

from __future__ import annotations

import platform
import shlex
import sys
from pathlib import Path

import yaml

from src.config import Params, load_params, parse_params
from src.tracking import git_state


def parse_variant(text: str) -> tuple[str, dict]:
    """`name:key=value,...` -> (name, {key: YAML value}); an empty body keeps the settings as they are."""
    name, _, body = text.partition(":")
    updates = {}
    for item in filter(None, body.split(",")):
        key, _, value = item.partition("=")
        updates[key] = yaml.safe_load(value)
    return name, updates


def sweep_params(path: Path, preset: str | None) -> Params:
    """params.yaml (or `path`), under `preset` when given instead of the file's own `preset:`."""
    if preset is None:
        return load_params(path)
    load_params(path)  # the file's own errors first, one line each
    raw = yaml.safe_load(path.read_text()) or {}
    return parse_params({**raw, "preset": preset}, f"{path} (preset: {preset})")


def provenance() -> dict:
    """Where a row came from: the machine, the commit ('+dirty' with uncommitted changes, read by the
    same helper that tags every MLflow run) and the exact command, so a row can be rerun without guessing."""
    state = git_state()
    commit = state["git_commit"][:7] + ("+dirty" if state["git_dirty"] == "true" else "")
    return {"machine": f"{platform.machine()} {platform.processor() or ''}".strip(), "commit": commit,
            "command": shlex.join(["python", *sys.argv])}
