"""The distilled-set file format: safetensors tensors + JSON metadata, nothing pickled.

`data/distilled/<dataset>/<method>_ipc<N>_<init>.safetensors` holds
  images  float32 (n, c, h, w), in the dataset's normalised space
  labels  int64 (n,) for hard labels, or float32 (n, K) soft labels
  lr      float32 () optional: the learning rate to train the set at (PAD's learned student lr,
          stored unless `eval_lr: protocol`; the learned value is always in the metadata)
and metadata: dataset, method, ipc, init, label kind, image shape, normalisation mean/std,
params hash, seed, git commit and a content hash over the tensors. `load` checks all of it:
a corrupted file, a pickle in disguise, or a set made for another dataset or normalisation is
refused with a message that says why.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import safe_open, save_file

from src.data.fsutil import atomic_file
from src.errors import DataError

FORMAT = "ddkit-distilled/1"


def content_hash(tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for k in sorted(tensors):
        t = tensors[k].detach().cpu().contiguous()
        h.update(k.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def params_hash(params: dict) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class DistilledSet:
    images: torch.Tensor
    labels: torch.Tensor
    meta: dict
    lr: torch.Tensor | None = None

    @property
    def soft(self) -> bool:
        return self.labels.dtype.is_floating_point


def save(path: str | Path, images: torch.Tensor, labels: torch.Tensor, meta: dict, lr: torch.Tensor | None = None) -> Path:
    tensors = {"images": images.detach().float().cpu().contiguous(), "labels": labels.detach().cpu().contiguous()}
    if lr is not None:
        tensors["lr"] = lr.detach().float().cpu().reshape(())
    full = {**meta, "format": FORMAT, "image_shape": list(tensors["images"].shape[1:]),
            "label_kind": "soft" if tensors["labels"].dtype.is_floating_point else "hard",
            "content_hash": content_hash(tensors)}
    path = Path(path)
    with atomic_file(path) as tmp:
        save_file(tensors, str(tmp), metadata={"meta": json.dumps(full, default=str)})
    return path


def load(path: str | Path, dataset: str | None = None, mean: tuple | None = None, std: tuple | None = None) -> DistilledSet:
    """Read and check a distilled set; with dataset/mean/std given, refuse a set made for another."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: missing; build it with `dvc repro` or fetch it with `dvc pull {path}`")
    try:
        with safe_open(str(path), framework="pt") as f:
            raw_meta = (f.metadata() or {}).get("meta")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        raise DataError(f"{path}: not a safetensors distilled set ({err}); refusing to load it") from None
    if raw_meta is None:
        raise DataError(f"{path}: no ddkit metadata; refusing to load it")
    meta = json.loads(raw_meta)
    if meta.get("format") != FORMAT:
        raise DataError(f"{path}: format {meta.get('format')!r}, expected {FORMAT!r}")
    if {"images", "labels"} - tensors.keys():
        raise DataError(f"{path}: must hold 'images' and 'labels' tensors (has {sorted(tensors)})")
    if content_hash(tensors) != meta.get("content_hash"):
        raise DataError(f"{path}: content hash does not match its metadata (file altered or corrupt)")
    if dataset is not None and meta.get("dataset") != dataset:
        raise DataError(f"{path}: made for dataset {meta.get('dataset')!r}, not {dataset!r}")
    for name, want in (("mean", mean), ("std", std)):
        if want is not None and not torch.allclose(torch.tensor(meta.get(name, [])), torch.tensor(want), atol=1e-6):
            raise DataError(f"{path}: normalisation {name} {meta.get(name)} differs from this dataset's {list(want)} "
                            "(distilled for another preprocessing)")
    return DistilledSet(tensors["images"], tensors["labels"], meta, tensors.get("lr"))
