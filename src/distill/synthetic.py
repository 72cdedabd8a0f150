"""The distilled-set file format: safetensors tensors + JSON metadata, nothing pickled.

`data/distilled/<dataset>/<method>_ipc<N>_<init>.safetensors` holds
  images  float32 (n, c, h, w), in the dataset's normalised space
  labels  int64 (n,) for hard labels, or float32 (n, K) soft labels
  lr      float32 () optional: the learning rate to train the set at (PAD's learned student lr,
          stored unless `eval_lr: protocol`; the learned value is always in the metadata)
and metadata: dataset, method, ipc, init, label kind, image shape, normalisation mean/std,
params hash, seed, git commit, the md5 of every input file (the packed dataset; PAD's experts
manifest), the environment that made it (torch version and thread count, CPU, GPU) and a
content hash over the tensors. `load` checks all of it:
a corrupted file, a pickle in disguise, or a set made for another dataset or normalisation is
refused with a message that says why; `load_for` also checks the set against the dataset it
is about to train on (image shape, classes); `check_fit` does that for a set already read.
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


def check_layout(path: Path, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    """The tensors' shapes and dtypes as the format defines them. The content hash alone does not
    vouch for them: a file written by other code can carry a hash of its own odd tensors."""
    images, labels, lr = tensors["images"], tensors["labels"], tensors.get("lr")
    if images.dim() != 4 or images.dtype != torch.float32 or len(images) == 0:
        raise DataError(f"{path}: images are {images.dtype} {tuple(images.shape)}, expected float32 (n, c, h, w) with n > 0")
    hard = labels.dtype == torch.int64 and labels.dim() == 1
    soft = labels.dtype == torch.float32 and labels.dim() == 2
    if not (hard or soft) or len(labels) != len(images):
        raise DataError(f"{path}: labels are {labels.dtype} {tuple(labels.shape)}, expected int64 ({len(images)},) "
                        f"or float32 ({len(images)}, classes)")
    if lr is not None and (lr.dim() != 0 or not lr.dtype.is_floating_point):
        raise DataError(f"{path}: lr is {lr.dtype} {tuple(lr.shape)}, expected a float scalar")
    if meta.get("image_shape") != list(images.shape[1:]):
        raise DataError(f"{path}: metadata image_shape {meta.get('image_shape')} differs from the images' "
                        f"{list(images.shape[1:])}")


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
    try:
        meta = json.loads(raw_meta)
    except ValueError:
        meta = None
    if not isinstance(meta, dict):
        raise DataError(f"{path}: its ddkit metadata is not a JSON object; refusing to load it")
    if meta.get("format") != FORMAT:
        raise DataError(f"{path}: format {meta.get('format')!r}, expected {FORMAT!r}")
    if {"images", "labels"} - tensors.keys():
        raise DataError(f"{path}: must hold 'images' and 'labels' tensors (has {sorted(tensors)})")
    if content_hash(tensors) != meta.get("content_hash"):
        raise DataError(f"{path}: content hash does not match its metadata (file altered or corrupt)")
    check_layout(path, tensors, meta)
    if dataset is not None:
        check_origin(path, meta, dataset, mean, std)
    return DistilledSet(tensors["images"], tensors["labels"], meta, tensors.get("lr"))


def check_origin(path: Path, meta: dict, dataset: str, mean: tuple | None, std: tuple | None) -> None:
    """Refuse a set made for another dataset or normalisation."""
    if meta.get("dataset") != dataset:
        raise DataError(f"{path}: made for dataset {meta.get('dataset')!r}, not {dataset!r}")
    for name, want in (("mean", mean), ("std", std)):
        if want is not None and not torch.allclose(torch.tensor(meta.get(name, [])), torch.tensor(want), atol=1e-6):
            raise DataError(f"{path}: normalisation {name} {meta.get(name)} differs from this dataset's {list(want)} "
                            "(distilled for another preprocessing)")


def load_for(path: str | Path, ds) -> DistilledSet:
    """`load`, refusing a set that does not fit the dataset `ds` (a src.data.store.Dataset)."""
    return check_fit(Path(path), load(path), ds)


def check_fit(path: Path, s: DistilledSet, ds) -> DistilledSet:
    """`s` (read from `path`) if it fits the dataset `ds` it is about to train on: its name,
    normalisation, image shape and classes. A set distilled at another resolution or for another
    class list would otherwise fail deep inside training, or not at all."""
    check_origin(path, s.meta, ds.name, ds.mean, ds.std)
    want = [ds.channels, *ds.im_size]
    if list(s.images.shape[1:]) != want:
        raise DataError(f"{path}: images of shape {list(s.images.shape[1:])}, this {ds.name} data has {want} "
                        "(distilled at another resolution?)")
    k = ds.num_classes
    if s.soft and s.labels.shape[1] != k:
        raise DataError(f"{path}: soft labels over {s.labels.shape[1]} classes, {ds.name} has {k}")
    if not s.soft and (int(s.labels.min()) < 0 or int(s.labels.max()) >= k):
        raise DataError(f"{path}: hard labels span {int(s.labels.min())}..{int(s.labels.max())}, "
                        f"expected 0..{k - 1} ({ds.name} has {k} classes)")
    return s
