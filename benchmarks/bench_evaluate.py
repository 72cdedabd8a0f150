"""Time the synthetic-set protocol: N models trained batched (one vmapped forward) vs one by one.

    python benchmarks/bench_evaluate.py [--models 10] [--epochs 300] [--ipc 10] [--device cpu]

Trains on a random real MNIST subset of ipc images per class (100 images at ipc 10) with the
params.yaml evaluation model and DSA, then tests on the 10,000 test images. Prints one JSON
line: seconds for each mode, the speedup, and both modes' accuracies (they should agree within
noise). Needs data/processed/mnist (run `dvc repro prepare@mnist` first).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
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
    args = ap.parse_args()
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
    for mode in ("batched", "one_by_one"):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        r = evaluate_set(x, y, ds.test.x, ds.test.y, ds.normalize, cfg.model, ds.num_classes, proto, args.models,
                         args.seed, device, batched=mode == "batched")
        if device.type == "cuda":
            torch.cuda.synchronize()
        out[f"{mode}_seconds"] = round(time.perf_counter() - t0, 2)
        out[f"{mode}_acc_mean"] = round(float(np.mean(r.accs)), 2)
        out[f"{mode}_acc_std"] = round(float(np.std(r.accs)), 2)
    out["speedup"] = round(out["one_by_one_seconds"] / out["batched_seconds"], 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
