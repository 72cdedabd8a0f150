"""Does keeping freed memory in glibc's allocator pay? (`make repro` sets GLIBC_TUNABLES=$(MALLOC_TUNABLES))

    python benchmarks/bench_malloc.py [--repeats 1]

The hot loops free and reallocate the same activation buffers thousands of times; by default
glibc hands freed memory back to the kernel (heap trimming, large blocks unmapped) and every step
page-faults it back in. TUNED keeps it: no trimming below 4 GB, a 32 MB mmap threshold (glibc's
maximum), 256 MB top padding. It changes no result, only time.

Runs the project's hot loops as child processes, each once with glibc's defaults (off) and once
with GLIBC_TUNABLES=TUNED (on), alternating, and reads every child's wall
time, user and system CPU time and minor page faults (getrusage). Workloads: DataDAM at MNIST
ipc 10 (bench_datadam.py, 40 iterations), PAD's unroll at the CPU profile's N = 30
(bench_pad.py, 3 iterations) and the evaluation protocol (2 ConvNet-3 models x 100 epochs on
100 real images). Prints one JSON line: per workload and setting the measurements and the
workload's own ms per iteration, and the off/on wall-time ratio (>1: the tuning is faster).
Needs data/processed/mnist.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EVAL = """
import torch
from src.config import load_params
from src.data import store
from src.protocol import Protocol, evaluate_set, random_subset
from src.runtime import configure_threads, generator
configure_threads()
cfg = load_params().evaluate.mnist
ds = store.load("mnist")
idx = random_subset(ds.train.y, 10, ds.num_classes, generator(0, "cpu", "bench-subset"))
proto = Protocol(epochs=100, batch_size=cfg.batch_size, lr=cfg.lr, momentum=cfg.momentum,
                 weight_decay=cfg.weight_decay, dsa_strategy=cfg.dsa_strategy)
r = evaluate_set(ds.normalize(ds.train.x[idx]), ds.train.y[idx], ds.test.x, ds.test.y, ds.normalize, cfg.model,
                 ds.num_classes, proto, 2, 0, torch.device("cpu"), batched=False)
print('{"accs": %s, "ms_per_iter": %.1f}' % (r.accs, 1000 * r.seconds / 200))
"""
# the one definition is the Makefile's, which `make repro` exports
TUNED = next(line.split(":=", 1)[1].strip() for line in (ROOT / "Makefile").read_text().splitlines()
             if line.startswith("MALLOC_TUNABLES :="))
WORKLOADS = {
    "datadam_ipc10": [sys.executable, "benchmarks/bench_datadam.py", "--device", "cpu", "--ipc", "10", "--iterations", "40"],
    "pad_n30": [sys.executable, "benchmarks/bench_pad.py", "--device", "cpu", "--width", "64", "--syn-steps", "30",
                "--iterations", "3"],
    "evaluate_2x100": [sys.executable, "-c", EVAL],
}


def run(cmd: list[str], tune: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    if tune:
        env["GLIBC_TUNABLES"] = TUNED
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode:
        raise SystemExit(f"{' '.join(cmd[:2])} failed:\n{out.stderr[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = json.loads(out.stdout.strip().splitlines()[-1])
    return {"wall_s": round(wall, 1), "user_s": round(after.ru_utime - before.ru_utime, 1),
            "sys_s": round(after.ru_stime - before.ru_stime, 1), "minor_faults": after.ru_minflt - before.ru_minflt,
            "ms_per_iter": own.get("ms_per_iter"), **({"accs": own["accs"]} if "accs" in own else {})}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--only", default=",".join(WORKLOADS), help="comma-separated workloads")
    args = ap.parse_args()
    results = {}
    for name in args.only.split(","):
        runs = {"off": [], "on": []}
        for _ in range(args.repeats):
            for setting in ("off", "on"):
                runs[setting].append(run(WORKLOADS[name], setting == "on"))
        best = {s: min(r, key=lambda m: m["wall_s"]) for s, r in runs.items()}
        results[name] = {**best, "wall_off_over_on": round(best["off"]["wall_s"] / best["on"]["wall_s"], 2)}
        if best["off"]["ms_per_iter"] and best["on"]["ms_per_iter"]:
            results[name]["ms_per_iter_off_over_on"] = round(best["off"]["ms_per_iter"] / best["on"]["ms_per_iter"], 2)
    print(json.dumps({"benchmark": "malloc", "machine": f"{platform.machine()} {os.cpu_count()} cpus", "tuned": TUNED,
                      "repeats": args.repeats, "workloads": results}))


if __name__ == "__main__":
    main()
