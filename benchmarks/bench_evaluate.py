"""Time the synthetic-set protocol: N models trained batched vs one by one, eager vs compiled.

    python benchmarks/bench_evaluate.py [--models 10] [--epochs 300] [--ipc 10] [--device cpu]
        [--modes one_by_one_eager,batched_vmap_eager,one_by_one_compiled,batched_loop_compiled]

Trains on a random real MNIST subset of ipc images per class (100 images at ipc 10) with the
params.yaml evaluation model and DSA, then tests on the 10,000 test images. Modes:
  one_by_one_eager       N=1 at a time, eager (the CPU engine before compilation)
  batched_vmap_eager     all N in one vmapped call (grouped convolutions; the CUDA layout)
  one_by_one_compiled    N=1 at a time, torch.compile'd training step (one trace reused by all N)
  batched_loop_compiled  all N side by side in one compiled graph (the CPU default)
Seconds are end to end, compilation included, with a fresh inductor cache (`--warm-cache` keeps
the user's). Prints one JSON line: seconds and accuracy (mean, std) per mode, and the speedup of
every mode over one_by_one_eager and of batched_loop_compiled over one_by_one_compiled.
Needs data/processed/mnist (run `dvc repro prepare@mnist` first).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from src.config import load_params  # noqa: E402
from src.data import store  # noqa: E402
from src.protocol import Protocol, evaluate_set, random_subset  # noqa: E402
from src.runtime import configure_threads, generator, pick_device  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--ipc", type=int, default=10)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--modes", default="one_by_one_eager,batched_vmap_eager,one_by_one_compiled,batched_loop_compiled")
    ap.add_argument("--warm-cache", action="store_true", help="keep the inductor cache (default: a fresh one)")
    args = ap.parse_args()
    if not args.warm_cache:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-inductor-")
    configure_threads()
    params = load_params()
    cfg = params.evaluate.mnist
    device = pick_device(args.device)
    ds = store.load("mnist")
    idx = random_subset(ds.train.y, args.ipc, ds.num_classes, generator(args.seed, "cpu", "bench-subset"))
    x, y = ds.normalize(ds.train.x[idx]), ds.train.y[idx]
    proto = Protocol(epochs=args.epochs, batch_size=cfg.batch_size, lr=cfg.lr, momentum=cfg.momentum,
                     weight_decay=cfg.weight_decay, dsa_strategy=cfg.dsa_strategy)
    out = {"benchmark": "evaluate", "device": str(device), "machine": platform.processor() or platform.machine(),
           "cpu_threads": torch.get_num_threads(), "torch": torch.__version__, "model": cfg.model.model_dump(),
           "models": args.models, "epochs": args.epochs, "images": len(y)}
    modes = {"one_by_one_eager": (False, None, False), "batched_vmap_eager": (True, "vmap", False),
             "one_by_one_compiled": (False, "loop", True), "batched_loop_compiled": (True, "loop", True)}
    for mode in args.modes.split(","):
        batched, layout, compiled = modes[mode]
        proto.compile = compiled
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        r = evaluate_set(x, y, ds.test.x, ds.test.y, ds.normalize, cfg.model, ds.num_classes, proto, args.models,
                         args.seed, device, batched=batched, layout=layout)
        if device.type == "cuda":
            torch.cuda.synchronize()
        out[f"{mode}_seconds"] = round(time.perf_counter() - t0, 2)
        out[f"{mode}_acc_mean"] = round(float(np.mean(r.accs)), 2)
        out[f"{mode}_acc_std"] = round(float(np.std(r.accs)), 2)
        print(f"{mode}: {out[f'{mode}_seconds']} s", file=sys.stderr, flush=True)
    base = out.get("one_by_one_eager_seconds")
    for mode in modes:
        if base and f"{mode}_seconds" in out and mode != "one_by_one_eager":
            out[f"{mode}_speedup"] = round(base / out[f"{mode}_seconds"], 2)
    if "one_by_one_compiled_seconds" in out and "batched_loop_compiled_seconds" in out:
        out["batched_over_one_by_one_compiled_speedup"] = round(
            out["one_by_one_compiled_seconds"] / out["batched_loop_compiled_seconds"], 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
