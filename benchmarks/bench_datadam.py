"""Time DataDAM iterations and the floor (the network's own forward/backward on the same batches).

    python benchmarks/bench_datadam.py --device cpu --ipc 10 --iterations 20
    python benchmarks/bench_datadam.py --data mhist-fixture --resolution 224 --depth 7 --ipc 10

`--data mnist` reads data/processed/mnist; `--data mhist-fixture` makes random 2-class RGB
images in memory at --resolution (real MHIST cannot be shipped). Prints one JSON line:
ms_per_iter (after warm-up and compilation), floor_ms (the network's forward on the real batch
plus forward/backward on the synthetic batch, eager), compile_s and peak memory. `--compile-mode
reduce-overhead` compiles DataDAM's matching_loss in that torch.compile mode (CUDA graphs through
inductor's cudagraph trees; an experiment of this script: the pipeline uses the default mode).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from src.config import DataDAMSpec, ModelSpec  # noqa: E402
from src.data import store  # noqa: E402
from src.data.store import Dataset, Split  # noqa: E402
from src.distill import datadam  # noqa: E402
from src.runtime import autocast, configure_threads, cpu_amp, cpu_bf16, pick_device  # noqa: E402
from src.tracking import cpu_name  # noqa: E402


def fixture(resolution: int, n_per_class: int = 200) -> Dataset:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(2).repeat_interleave(n_per_class)
    x = torch.randint(0, 256, (len(y), 3, resolution, resolution), generator=g, dtype=torch.uint8)
    s = Split(x, y)
    return Dataset("mhist", ("HP", "SSA"), (0.7, 0.6, 0.75), (0.15, 0.2, 0.15), s, Split(x[:0], y[:0]), s)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def workload_args(ap: argparse.ArgumentParser, iterations: int, width: int) -> None:
    """The options every distillation benchmark shares: device, data (MNIST or an MHIST-shaped
    fixture at --resolution), images per class, iterations and the ConvNet's depth and width."""
    ap.add_argument("--device", default="auto")
    ap.add_argument("--data", default="mnist", choices=["mnist", "mhist-fixture"])
    ap.add_argument("--resolution", type=int, default=224)
    ap.add_argument("--ipc", type=int, default=10)
    ap.add_argument("--iterations", type=int, default=iterations)
    ap.add_argument("--depth", type=int, default=3)
    ap.add_argument("--width", type=int, default=width)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    workload_args(ap, iterations=20, width=64)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--batch-real", type=int, default=64)
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--no-amp", action="store_true")
    ap.add_argument("--amp-cpu", action="store_true", help="bf16 autocast on the CPU too (DataDAMSpec.amp_cpu)")
    ap.add_argument("--compile-mode", default=None, choices=["default", "reduce-overhead", "max-autotune-no-cudagraphs"],
                    help="torch.compile mode of the matching loss (benchmark only; the pipeline: default)")
    args = ap.parse_args()
    if args.compile_mode:  # datadam.distill calls torch.compile(...) itself: give it the mode in this process only
        import functools

        torch.compile = functools.partial(torch.compile, mode=args.compile_mode)
    configure_threads()
    device = pick_device(args.device)
    ds = store.load("mnist") if args.data == "mnist" else fixture(args.resolution)
    strategy = "color_crop_cutout_scale_rotate" if args.data == "mnist" else "color_crop_cutout_flip_scale_rotate"
    cfg = DataDAMSpec(model=ModelSpec(depth=args.depth, width=args.width), iterations=args.warmup, log_every=10**6,
                      batch_real=args.batch_real, dsa_strategy=strategy, compile=not args.no_compile, amp=not args.no_amp,
                      amp_cpu=args.amp_cpu)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    datadam.distill(ds, cfg, args.ipc, "real", 0, device)  # warm-up, includes compilation
    sync(device)
    warm_s = time.perf_counter() - t0
    run_cfg = cfg.model_copy(update={"iterations": args.warmup + args.iterations})
    t0 = time.perf_counter()
    datadam.distill(ds, run_cfg, args.ipc, "real", 0, device)
    sync(device)
    total = time.perf_counter() - t0
    per_iter = total / (args.warmup + args.iterations)  # compiled graphs are cached: no compilation in `total`

    # the floor: the network's own work per iteration, eager, no attention, no sampling, no augmentation
    from src.models.registry import build

    net = build(cfg.model, ds.channels, ds.num_classes, ds.im_size).to(device).requires_grad_(False)
    xr = torch.randn(ds.num_classes * args.batch_real, ds.channels, *ds.im_size, device=device)
    xs = torch.randn(ds.num_classes * args.ipc, ds.channels, *ds.im_size, device=device, requires_grad=True)

    amp = cfg.amp and (device.type == "cuda" or cpu_amp(cfg.amp_cpu, device))  # as datadam.distill decides

    def floor_step():
        with autocast(device, cpu=amp, cuda=amp):
            with torch.no_grad():
                net(xr)
            net(xs).float().sum().backward()

    for _ in range(2):
        floor_step()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(args.iterations):
        floor_step()
    sync(device)
    floor = (time.perf_counter() - t0) / args.iterations
    peak = (torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps({
        "benchmark": "datadam", "device": str(device),
        "device_name": torch.cuda.get_device_name() if device.type == "cuda" else cpu_name(),
        **({"cpu_bf16": cpu_bf16()} if device.type == "cpu" else {}),
        "threads": torch.get_num_threads(), "torch": torch.__version__, "data": args.data,
        "resolution": ds.im_size[0], "ipc": args.ipc, "batch_real": args.batch_real, "depth": args.depth, "width": args.width,
        "compile": cfg.compile, "compile_mode": args.compile_mode or "default", "amp": amp, "iterations": args.iterations,
        "ms_per_iter": round(per_iter * 1000, 1), "floor_ms": round(floor * 1000, 1),
        "ratio_to_floor": round(per_iter / floor, 2), "warmup_and_compile_s": round(warm_s, 1),
        "peak_memory_mb": round(peak, 1), "peak_memory_kind": "cuda_allocated" if device.type == "cuda" else "process_max_rss",
    }))


if __name__ == "__main__":
    main()
