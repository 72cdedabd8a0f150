"""Time PAD iterations and their floor, and measure peak memory, for one unroll mode.

    python benchmarks/bench_pad.py --device cpu --ipc 10 --syn-steps 10 --batch-syn 50 --unroll full
    python benchmarks/bench_pad.py --data mhist-fixture --resolution 224 --depth 7 --unroll checkpointed

Runs on synthetic expert trajectories (random parameters: speed and memory do not depend on
their values) so it needs no experts stage. `--data mnist` reads data/processed/mnist;
`--data mhist-fixture` makes random 2-class RGB images at --resolution. Prints one JSON line:
ms_per_iter, floor_ms (N plain forward/backward steps of the student on the same batches, no
second-order terms), peak memory (CUDA allocator peak, or the process's max RSS on the CPU:
run one mode per process to compare modes). `--amp-cpu` runs the distillation with `amp_cpu` (a bf16
unroll, as distill.pad.<dataset>.amp_cpu) and the floor under bf16 autocast.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from benchmarks.bench_datadam import fixture, sync, workload_args  # noqa: E402
from src.config import ModelSpec, PADSpec  # noqa: E402
from src.data import store  # noqa: E402
from src.distill import experts as ex  # noqa: E402
from src.distill import pad  # noqa: E402
from src.models.registry import build  # noqa: E402
from src.protocol import soft_cross_entropy  # noqa: E402
from src.runtime import configure_threads, pick_device  # noqa: E402


def fake_experts(root: Path, ds, spec: ModelSpec, n: int, epochs: int) -> ex.Experts:
    net = build(spec, ds.channels, ds.num_classes, ds.im_size)
    theta = ex.flat_params(net)
    g = torch.Generator().manual_seed(0)
    names, shapes = [n for n, _ in net.named_parameters()], [list(p.shape) for p in net.parameters()]
    manifest = {"format": ex.FORMAT, "dataset": ds.name, "seed": 0, "key": "bench", "model": spec.model_dump(),
                "param_names": names, "param_shapes": shapes, "n_params": len(theta),
                "lr_teacher": 0.01, "epochs_saved": epochs, "experts": []}
    pool = torch.arange(min(len(ds.train), 2000))  # enough images of every class for the initial set
    manifest["difficulty"] = {"file": "difficulty.safetensors",
                              "md5": ex.save_difficulty(root / "difficulty.safetensors", pool, torch.rand(len(pool), generator=g))}
    for i in range(n):
        traj = theta + 0.01 * torch.randn(epochs + 1, len(theta), generator=g).cumsum(0)
        manifest["experts"].append({"file": ex.expert_file(i),
                                    "md5": ex.save_trajectory(root / ex.expert_file(i), traj, False),
                                    "val_acc": 0.0})  # no expert was trained: nothing to score
    ex.write_manifest(root, manifest)
    return ex.Experts.open(root)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    workload_args(ap, iterations=5, width=32)
    ap.add_argument("--syn-steps", type=int, default=10)
    ap.add_argument("--batch-syn", type=int, default=50)
    ap.add_argument("--unroll", default="full", choices=["full", "checkpointed"])
    ap.add_argument("--amp-cpu", action="store_true", help="bf16 autocast on the CPU (distillation and floor)")
    args = ap.parse_args()
    amp = torch.autocast("cpu", dtype=torch.bfloat16) if args.amp_cpu else contextlib.nullcontext()
    with amp:
        run(args)


def run(args) -> None:
    configure_threads()
    device = pick_device(args.device)
    ds = store.load("mnist") if args.data == "mnist" else fixture(args.resolution)
    spec = ModelSpec(depth=args.depth, width=args.width, norm="instance")
    strategy = "color_crop_cutout_scale_rotate" if args.data == "mnist" else "color_crop_cutout_flip_scale_rotate"
    with tempfile.TemporaryDirectory() as tmp:
        experts = fake_experts(Path(tmp), ds, spec, n=2, epochs=4)
        cfg = PADSpec(iterations=1, syn_steps=args.syn_steps, expert_epochs=2, min_start_epoch=0, start_epoch=1,
                      max_start_epoch=2, batch_syn=args.batch_syn, unroll=args.unroll, dsa_strategy=strategy,
                      threshold=1e9, log_every=10**6, amp_cpu=args.amp_cpu)
        pad.distill(ds, experts, cfg, args.ipc, 0, device)  # warm-up
        sync(device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        result = pad.distill(ds, experts, cfg.model_copy(update={"iterations": args.iterations}), args.ipc, 0, device)
        per_iter = result.seconds / args.iterations  # the iterations only (not the initial classification pass)

    # the floor: N plain SGD steps of the student network on batches of the same size (no second order)
    net = build(spec, ds.channels, ds.num_classes, ds.im_size).to(device)
    x = torch.randn(args.batch_syn, ds.channels, *ds.im_size, device=device)
    y = torch.randint(0, ds.num_classes, (args.batch_syn,), device=device)

    def floor_iter():
        for _ in range(args.syn_steps):
            net.zero_grad(set_to_none=True)
            soft_cross_entropy(net(x), y).backward()

    floor_iter()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(args.iterations):
        floor_iter()
    sync(device)
    floor = (time.perf_counter() - t0) / args.iterations
    print(json.dumps({
        "benchmark": "pad", "device": str(device),
        "device_name": torch.cuda.get_device_name() if device.type == "cuda" else (platform.processor() or platform.machine()),
        "threads": torch.get_num_threads(), "torch": torch.__version__, "data": args.data, "resolution": ds.im_size[0],
        "ipc": args.ipc, "syn_steps": args.syn_steps, "batch_syn": args.batch_syn, "depth": args.depth, "width": args.width,
        "unroll": result.unroll, "amp_cpu": args.amp_cpu, "iterations": args.iterations, "ms_per_iter": round(per_iter * 1000, 1),
        "floor_ms": round(floor * 1000, 1), "ratio_to_floor": round(per_iter / floor, 2),
        "peak_memory_mb": round(result.peak_mem_mb, 1),
        "peak_memory_kind": "cuda_allocated" if device.type == "cuda" else "process_max_rss",
    }))


if __name__ == "__main__":
    main()
