"""Device choice and seeding: every random source is derived from the params seed."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import sys
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
    """bf16 autocast on the device if enabled for its kind (`cpu`: a stage's `amp_cpu` setting as
    granted by `cpu_amp`), otherwise a no-op context. One place for the choice every stage makes."""
    kind = torch.device(device).type
    return torch.autocast(kind, dtype=torch.bfloat16, enabled=cuda if kind == "cuda" else cpu and kind == "cpu")


def cpu_amp(requested: bool, device: torch.device | str) -> bool:
    """A stage's `amp_cpu` as it takes effect on `device`: bf16 on the CPU only where `cpu_bf16()`,
    saying once per process when it falls back to float32. Resolved once per stage, before its loop
    (not inside `autocast`: a compiled region would break its graph on the check)."""
    if not requested or torch.device(device).type != "cpu":
        return requested
    if cpu_bf16():
        return True
    _note_float32()
    return False


def cpu_bf16() -> bool:
    """Whether `amp_cpu` runs in bf16 on this machine. With bf16 in hardware (AMX or AVX-512 BF16)
    bf16 autocast trains these networks 1.3-3.9x faster than float32; without it oneDNN emulates bf16
    and the same steps run 7-8x slower than float32 (benchmarks/results/cpu_precision.json, AMX;
    cpu_precision_avx512bf16.jsonl, AVX-512 BF16 without AMX; cpu_precision_avx2.jsonl, AVX2 only),
    so there `amp_cpu` falls back to float32. DD_CPU_BF16=1
    or 0 overrides the detection (to measure the emulation, or on a CPU torch misreads); the choice
    is recorded with every run (`device_info`, `tracking.environment`)."""
    force = os.environ.get("DD_CPU_BF16")
    if force is None or force == "":
        return _bf16_in_hardware()
    if force not in ("0", "1"):
        raise UserError(f"DD_CPU_BF16: {force!r}, expected 1 (bf16 autocast on the CPU), 0 (float32) or unset (detect)")
    return force == "1"


@functools.cache
def _bf16_in_hardware() -> bool:
    return any(getattr(torch.cpu, probe, lambda: False)()
               for probe in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"))


@functools.cache
def _note_float32() -> None:
    print("note: amp_cpu runs in float32 here: this CPU has no bf16 hardware (AMX or AVX-512 BF16), or "
          "DD_CPU_BF16=0 (emulated bf16 is 7-8x slower; DD_CPU_BF16=1 forces it)", file=sys.stderr, flush=True)


def device_info(device: torch.device | str) -> dict:
    """Where a result was computed, for its metrics file: the device and, since CPU sums depend on
    it, torch's thread count and whether this CPU grants `amp_cpu` bf16 (`cpu_bf16`; a stage with
    `amp_cpu` off runs float32 either way)."""
    info = {"device": str(device), "torch_threads": torch.get_num_threads()}
    if torch.device(device).type == "cpu":
        info["cpu_bf16"] = cpu_bf16()
    return info


def configure_threads() -> None:
    """Use every core the process may run on (torch defaults to physical cores only)."""
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, len(os.sched_getaffinity(0))))
