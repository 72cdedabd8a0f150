"""Resumable distillation state: iteration, images and optimiser momentum, as safetensors.

A run that is killed resumes from its last checkpoint and, because every per-iteration random
draw is derived from (seed, iteration), ends with exactly the images of an uninterrupted run.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import safe_open, save_file

from src.data.fsutil import atomic_file
from src.errors import DataError


class NonFiniteError(RuntimeError):
    """The loss, gradients or images became NaN/inf; the run stops and its last good checkpoint is kept."""


def save(path: Path, key: str, iteration: int, images: torch.Tensor, momentum: torch.Tensor | None,
         **extra: torch.Tensor) -> None:
    """`key` identifies the run's settings (a params hash): a checkpoint only resumes its own run.
    The thread count is recorded because on the CPU a resume bit-matches an uninterrupted run only
    at the same count."""
    tensors = {"images": images.detach().cpu().contiguous(),
               "momentum": (momentum if momentum is not None else torch.zeros_like(images)).detach().cpu().contiguous()}
    tensors.update({k: v.detach().cpu().contiguous() for k, v in extra.items()})
    with atomic_file(path) as tmp:
        save_file(tensors, str(tmp), metadata={"iteration": json.dumps(iteration), "key": key,
                                               "torch_threads": str(torch.get_num_threads())})


def read_meta(path: Path) -> dict[str, str]:
    """A checkpoint's metadata (key, iteration, torch_threads) without its tensors."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError) as err:
        raise DataError(f"{path}: unreadable checkpoint ({err})") from None


def claim(path: Path, key: str, resume: bool) -> str | None:
    """Make `path` ready for run `key`: a checkpoint that can resume it is kept when `resume`, any
    other is removed. Returns what became of a checkpoint that was there (for the run's log), or None."""
    if not resume or not path.is_file():
        path.unlink(missing_ok=True)
        return None
    try:
        meta = read_meta(path)
    except DataError as err:
        path.unlink()
        return f"{err}: starting over"
    if meta.get("key") != key:
        path.unlink()
        return f"{path}: written under other settings (params hash {meta.get('key')}, now {key}): starting over"
    threads = str(torch.get_num_threads())
    if meta.get("torch_threads", threads) != threads:
        return (f"{path}: written with {meta['torch_threads']} torch threads, resuming with {threads}: on the CPU "
                "the images will not bit-match an uninterrupted run's (a reduction over other threads sums in "
                "another order)")
    return None


def load(path: Path, key: str, shape: torch.Size) -> dict | None:
    """The checkpoint's state, or None when there is none or it belongs to another run."""
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata()
            it = json.loads(meta["iteration"])
            state = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, KeyError, OSError, ValueError):
        return None
    if meta.get("key") != key or state["images"].shape != shape:
        return None
    return {"iteration": int(it), **state}
