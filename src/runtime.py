"""Device choice and seeding: every random source is derived from the params seed."""

from __future__ import annotations

import contextlib
import hashlib
import os
from typing import Iterator

import torch

from src.errors import UserError


def pick_device(setting: str = "auto") -> torch.device:
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if setting == "cuda" and not torch.cuda.is_available():
        raise UserError("device: 'cuda' requested but no CUDA device is available (use device: auto or cpu)")
    return torch.device(setting)


def derive_seed(seed: int, *tags: object) -> int:
    """A stable 31-bit seed for a named purpose, so streams for weights, sampling and
    augmentation never overlap and do not shift when another stream draws more numbers."""
    digest = hashlib.sha256(repr((seed, *tags)).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def generator(seed: int, device: torch.device | str = "cpu", *tags: object) -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(derive_seed(seed, *tags))
    return g


@contextlib.contextmanager
def seeded(seed: int, *tags: object) -> Iterator[None]:
    """Run a block (e.g. model construction, which draws from the global RNG) under a derived
    seed without disturbing the caller's global RNG state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, *tags))
        yield


def autocast(device: torch.device | str, cpu: bool = False, cuda: bool = False):
    """bf16 autocast on the device if enabled for its kind (`cpu`: AMX/AVX-512 bf16 kernels; each
    stage's `amp_cpu` setting), otherwise a no-op context. One place for the choice every stage makes."""
    kind = torch.device(device).type
    return torch.autocast(kind, dtype=torch.bfloat16, enabled=cuda if kind == "cuda" else cpu and kind == "cpu")


def device_info(device: torch.device | str) -> dict:
    """Where a result was computed, for its metrics file: the device and, since CPU sums depend on
    it, torch's thread count."""
    return {"device": str(device), "torch_threads": torch.get_num_threads()}


def configure_threads() -> None:
    """Use every core the process may run on (torch defaults to physical cores only)."""
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, len(os.sched_getaffinity(0))))
