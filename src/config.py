"""Typed, validated view of params.yaml.

params.yaml is grouped by pipeline stage. A `preset` key picks a profile: `cpu` (the
default, sized for a 2-core laptop) uses the file as written; `paper` deep-merges
`presets.paper` over it (paper-scale settings for a GPU). Switch in one command:
`dvc exp run -S preset=paper`.

Every value is checked on load: an unknown key, a wrong type or an out-of-range value
raises ConfigError with one line naming the key and what was expected.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from src.errors import ConfigError

DATASETS = ("mnist", "mhist")
Dataset = Literal["mnist", "mhist"]
PARAMS_FILE = Path("params.yaml")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSpec(Strict):
    """An architecture from the registry (src/models/registry.py)."""

    name: Literal["convnet", "alexnet", "vgg11", "resnet18", "resnet18_bn", "lenet", "mlp"] = "convnet"
    depth: int = Field(3, ge=1, le=8, description="ConvNet blocks")
    width: int = Field(128, ge=1, le=1024, description="ConvNet channels")
    norm: Literal["none", "batch", "instance", "group", "layer"] = "instance"
    act: Literal["relu", "leakyrelu", "gelu", "sigmoid"] = "relu"
    pool: Literal["avg", "max", "none"] = "avg"


class PrepareMNIST(Strict):
    val_size: int = Field(5000, ge=0, le=30000, description="training images held out for validation")


class PrepareMHIST(Strict):
    resolution: int = Field(64, ge=16, le=224, description="working resolution (224 is native)")
    val_fraction: float = Field(0.1, ge=0.0, lt=0.5)


class Prepare(Strict):
    mnist: PrepareMNIST = PrepareMNIST()
    mhist: PrepareMHIST = PrepareMHIST()


class TrainSpec(Strict):
    """Full-data training: SGD with momentum and cosine annealing."""

    model: ModelSpec = ModelSpec()
    epochs: int = Field(3, ge=1, le=1000)
    batch_size: int = Field(128, ge=1, le=8192)
    lr: float = Field(0.01, gt=0.0, le=10.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    weight_decay: float = Field(5e-4, ge=0.0, le=1.0)
    channels_last: bool = True


class Baseline(Strict):
    mnist: TrainSpec = TrainSpec()
    mhist: TrainSpec = TrainSpec(model=ModelSpec(depth=5), epochs=20, batch_size=64)


class EvalSpec(Strict):
    """The synthetic-set protocol: N fresh networks trained on a small set, tested on real test data."""

    model: ModelSpec = ModelSpec()
    cross_models: tuple[ModelSpec, ...] = ()
    n_models: int = Field(5, ge=1, le=100)
    epochs: int = Field(300, ge=1, le=20000)
    batch_size: int = Field(256, ge=1, le=8192)
    lr: float = Field(0.01, gt=0.0, le=10.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    weight_decay: float = Field(5e-4, ge=0.0, le=1.0)
    dsa: bool = True
    dsa_strategy: str = Field("color_crop_cutout_flip_scale_rotate", pattern=r"^(none|[a-z]+(_[a-z]+)*)$")


class Evaluate(Strict):
    mnist: EvalSpec = EvalSpec()
    mhist: EvalSpec = EvalSpec(model=ModelSpec(depth=5))


class Params(Strict):
    seed: int = Field(0, ge=0, le=2**31 - 1)
    preset: Literal["cpu", "paper"] = "cpu"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    datasets: tuple[Dataset, ...] = ("mnist",)
    prepare: Prepare = Prepare()
    baseline: Baseline = Baseline()
    evaluate: Evaluate = Evaluate()
    presets: dict[str, dict[str, Any]] = {}


def deep_merge(base: dict, override: dict) -> dict:
    """Return base with override's leaves written over it (dicts merge, everything else replaces)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _one_line(err: ValidationError, source: str) -> str:
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "<root>"
    got = first.get("input")
    got_s = "" if isinstance(got, dict) else f" (got {got!r})"
    more = f" [+{err.error_count() - 1} more]" if err.error_count() > 1 else ""
    return f"{source}: {key}: {first['msg']}{got_s}{more}"


def parse_params(raw: dict, source: str = "params.yaml") -> Params:
    """Validate a raw params dict, applying the chosen preset's overrides."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of stage groups at the top level")
    preset = raw.get("preset", "cpu")
    presets = raw.get("presets", {}) or {}
    if preset != "cpu":
        if preset not in presets:
            raise ConfigError(f"{source}: preset: {preset!r} has no section under 'presets' (have: {sorted(presets)})")
        raw = deep_merge(raw, presets[preset])
    try:
        return Params.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(_one_line(err, source)) from None


def load_params(path: str | Path = PARAMS_FILE) -> Params:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: not found (run from the repository root, or pass --params)")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {str(err).splitlines()[0]}") from None
    return parse_params(raw, str(path))
