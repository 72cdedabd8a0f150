"""How much of a DataDAM iteration and a PAD student step is host work (Python, dispatcher, autograd
bookkeeping) rather than arithmetic: the same code at tiny sizes, where the arithmetic is negligible.

    python benchmarks/host_overhead.py [--iterations 200] [--threads 1]

On the H200, DataDAM at MNIST ipc 10 took 8.3 ms per iteration against a 3.4 ms eager floor, and
PAD 16.6 ms per unrolled student step against 2.5 ms for a plain SGD step
(benchmarks/results/gpu_nvidia_h200/). If the same loops at tiny sizes on a CPU cost about as much
as that, the GPU iteration is bound by host work, and fewer, fused operations (or CUDA graphs) are
the lever, not faster kernels. Prints one JSON line: per-iteration (per-step for PAD) milliseconds
at tiny sizes, the number of top-level ATen operations per iteration, and the share of each part of
the loop under cProfile (cumulative time of the named functions; cProfile inflates Python-heavy
parts, so the shares are a map, the unprofiled milliseconds the measurement).
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import json
import platform
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from src.config import DataDAMSpec, ModelSpec, PADSpec  # noqa: E402
from src.data.store import Dataset, Split  # noqa: E402
from src.distill import datadam, pad  # noqa: E402

DEVICE = torch.device("cpu")


def tiny_mnist(n_per_class: int = 100) -> Dataset:
    """MNIST-shaped random data: 10 classes of 1x28x28 uint8 images (the values do not matter here)."""
    g = torch.Generator().manual_seed(0)
    y = torch.arange(10).repeat_interleave(n_per_class)
    x = torch.randint(0, 256, (len(y), 1, 28, 28), generator=g, dtype=torch.uint8)
    s = Split(x, y)
    return Dataset("mnist", tuple(str(i) for i in range(10)), (0.1307,), (0.3081,), s, Split(x[:0], y[:0]), s)


def op_count(fn, iterations: int) -> float:
    """Top-level ATen operations (forward and autograd) per iteration."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn(iterations)
    counts = collections.Counter(e.name for e in prof.events() if e.name.startswith("aten::") and e.cpu_parent is None)
    return sum(counts.values()) / iterations


def shares(fn, iterations: int, parts: dict[str, tuple[str, str]]) -> dict[str, float]:
    """Cumulative cProfile time of each named function as a share of the whole call."""
    prof = cProfile.Profile()
    prof.enable()
    fn(iterations)
    prof.disable()
    stats = pstats.Stats(prof).stats
    total = max(v[3] for v in stats.values())
    out = {}
    for label, (file_end, func) in parts.items():
        cum = sum(v[3] for (f, _, name), v in stats.items() if f.endswith(file_end) and name == func)
        out[label] = round(cum / total, 3)
    return out


def timed(fn, iterations: int) -> float:
    fn(2)  # warm-up (compilation)
    t0 = time.perf_counter()
    fn(iterations)
    return (time.perf_counter() - t0) / iterations


def datadam_probe(ds: Dataset, compile_: bool, iterations: int) -> dict:
    cfg = DataDAMSpec(model=ModelSpec(depth=3, width=4), iterations=1, log_every=10**6, batch_real=2,
                      dsa_strategy="color_crop_cutout_scale_rotate", compile=compile_, amp=False)

    def run(n: int) -> None:
        datadam.distill(ds, cfg.model_copy(update={"iterations": n}), 1, "real", 0, DEVICE)

    ms = timed(run, iterations) * 1000
    # dsa_siamese/features/loss: the separate eager calls before session 8; matching_loss: the one
    # (compiled) region that holds DSA's apply, the features and the loss since then
    parts = {"dsa_siamese": ("augment.py", "siamese"), "features": ("datadam.py", "attention_features"),
             "loss": ("datadam.py", "datadam_loss"), "dsa_sample": ("augment.py", "sample"),
             "matching_loss": ("datadam.py", "matching_loss"), "backward": ("_tensor.py", "backward"),
             "sampler": ("datadam.py", "__call__"), "reinit": ("init.py", "reinit_"),
             "optimizer_step": ("optimizer.py", "wrapper")}
    return {"ms_per_iter": round(ms, 2), "aten_ops_per_iter": round(op_count(run, 5)),
            "cprofile_shares": shares(run, max(20, iterations // 4), parts)}


def pad_probe(ds: Dataset, unroll: str, steps: int, iterations: int) -> dict:
    from benchmarks.bench_pad import fake_experts

    spec = ModelSpec(depth=3, width=4, norm="instance")
    with tempfile.TemporaryDirectory() as tmp:
        experts = fake_experts(Path(tmp), ds, spec, n=2, epochs=4)
        cfg = PADSpec(iterations=1, syn_steps=steps, expert_epochs=2, min_start_epoch=0, start_epoch=1, max_start_epoch=2,
                      batch_syn=10, unroll=unroll, dsa_strategy="color_crop_cutout_scale_rotate", threshold=1e9,
                      log_every=10**6)

        def run(n: int) -> None:
            pad.distill(ds, experts, cfg.model_copy(update={"iterations": n}), 1, 0, DEVICE)

        ms = timed(run, iterations) * 1000
        parts = {"dsa": ("augment.py", "__call__"), "student_forward": ("trajectory.py", "__call__"),
                 "student_step": ("trajectory.py", "student_step"), "matching_grads": ("trajectory.py", "matching_grads"),
                 "expert_params": ("experts.py", "params")}
        return {"syn_steps": steps, "unroll": unroll, "ms_per_iter": round(ms, 2), "ms_per_student_step": round(ms / steps, 3),
                "aten_ops_per_iter": round(op_count(run, 2)), "cprofile_shares": shares(run, max(5, iterations // 4), parts)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=200, help="DataDAM iterations timed (PAD: a tenth)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: host work is single-threaded anyway)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ds = tiny_mnist()
    out = {"benchmark": "host_overhead", "machine": platform.processor() or platform.machine(), "threads": args.threads,
           "torch": torch.__version__, "sizes": "ConvNet-3 width 4; DataDAM ipc 1, batch_real 2; PAD ipc 1, batch 10",
           "datadam_eager": datadam_probe(ds, False, args.iterations),
           "datadam_compiled": datadam_probe(ds, True, args.iterations),
           "pad_full_n40": pad_probe(ds, "full", 40, max(3, args.iterations // 10)),
           "pad_checkpointed_n40": pad_probe(ds, "checkpointed", 40, max(3, args.iterations // 10))}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
