"""The packed tensor store: one safetensors file per dataset with a fixed train/val/test split.

`data/processed/<dataset>/data.safetensors` holds uint8 images and int64 labels for the
train, val and test splits plus JSON metadata (classes, normalisation mean/std). The val split
is carved out of the official training set once, at prepare time, from the params seed, so that
every later stage (distillation included) trains only on `train` and the NAS study can score
on `val` images that no distilled set has seen. Loading is one read into memory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import safe_open, save_file

from src.errors import DataError

PROCESSED = Path("data/processed")
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Split:
    x: torch.Tensor  # uint8 (n, c, h, w)
    y: torch.Tensor  # int64 (n,)
    votes: torch.Tensor | None = None  # MHIST: annotators (of 7) who chose SSA

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class Dataset:
    name: str
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    train: Split
    val: Split
    test: Split

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def channels(self) -> int:
        return self.train.x.shape[1]

    @property
    def im_size(self) -> tuple[int, int]:
        return tuple(self.train.x.shape[2:])

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 images -> float, standardised per channel (on x's device)."""
        mean = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1)
        return (x.float() / 255.0 - mean) / std


def split_train_val(n: int, n_val: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded disjoint (train, val) index arrays over range(n), each sorted."""
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def channel_stats(x: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images (n, c, h, w), in [0, 1] units."""
    xf = x.astype(np.float64) / 255.0
    return tuple(xf.mean(axis=(0, 2, 3)).tolist()), tuple(xf.std(axis=(0, 2, 3)).tolist())


def save(path: Path, name: str, classes: tuple[str, ...], arrays: dict[str, np.ndarray], extra: dict) -> None:
    """Write the packed file: arrays keyed `<split>_<field>`; train stats become the normalisation."""
    mean, std = channel_stats(arrays["train_x"])
    meta = {"format": FORMAT_VERSION, "dataset": name, "classes": list(classes), "mean": mean, "std": std, **extra}
    tensors = {k: torch.from_numpy(np.array(v, copy=True)) for k, v in arrays.items()}
    save_file(tensors, str(path), metadata={"meta": json.dumps(meta)})


def load(name: str, root: str | Path = PROCESSED) -> Dataset:
    path = Path(root) / name / "data.safetensors"
    if not path.is_file():
        raise DataError(f"{path}: missing; run `dvc repro prepare@{name}` (or `python -m src.prepare {name}`)")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {})["meta"])
            t = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, KeyError, json.JSONDecodeError, OSError) as err:
        raise DataError(f"{path}: not a valid packed dataset ({type(err).__name__}: {err})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION or meta.get("dataset") != name:
        got = meta if not isinstance(meta, dict) else f"{meta.get('dataset')!r} format {meta.get('format')}"
        raise DataError(f"{path}: packed for {got}, expected {name!r} format {FORMAT_VERSION}; rerun prepare")
    missing = [k for s in ("train", "val", "test") for k in (f"{s}_x", f"{s}_y") if k not in t]
    if missing or not {"classes", "mean", "std"} <= meta.keys():
        raise DataError(f"{path}: incomplete packed dataset (missing {missing or 'classes/mean/std metadata'}); "
                        "rerun prepare")

    def split(s: str) -> Split:
        return Split(t[f"{s}_x"], t[f"{s}_y"], t.get(f"{s}_votes"))

    return Dataset(name, tuple(meta["classes"]), tuple(meta["mean"]), tuple(meta["std"]),
                   split("train"), split("val"), split("test"))
