"""Does training PAD's experts in parallel processes pay? (`python -m src.experts --workers W --threads T`)

    python benchmarks/bench_expert_workers.py [--variants 1x2 2x1 1x1 2x2] [--params params.yaml]

Scores the pool once (EL2N, one process), then for every variant WxT copies the scores and an empty
manifest into a fresh directory and lets the stage's resume path train all the experts there, as a
child process (`python -m src.experts mnist --out DIR --workers W --threads T`), with the
allocator settings `make repro` uses and tracking off. Prints one JSON line: per variant the child's
wall seconds (start-up and data loading included, the same for every variant), the manifest's
seconds per expert and each trajectory's md5; the speedup of every variant over the first; and
which variants wrote identical files (on the CPU the bytes should depend on T, never on W).
Needs data/processed/mnist. A shared machine makes single runs noisy: compare variants of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_malloc import TUNED  # noqa: E402
from src.tracking import git_state  # noqa: E402


def stage(out: Path, params: Path, *extra: str) -> float:
    env = {**os.environ, "DD_TRACKING": "0", "GLIBC_TUNABLES": os.environ.get("GLIBC_TUNABLES", TUNED)}
    env.pop("OMP_NUM_THREADS", None)  # --threads decides
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "src.experts", "mnist", "--params", str(params), "--out", str(out), *extra],
                   cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", nargs="+", default=["1x2", "2x1", "1x1", "2x2"], help="WORKERSxTHREADS")
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        scored = Path(tmp) / "scored"
        stage(scored, args.params, "--no-resume")  # scores and a full set of experts (discarded)
        manifest = json.loads((scored / "manifest.json").read_text())
        rows = {}
        for variant in args.variants:
            workers, threads = variant.split("x")
            out = Path(tmp) / variant
            out.mkdir()
            shutil.copy(scored / "difficulty.safetensors", out)
            (out / "manifest.json").write_text(json.dumps({**manifest, "experts": []}))
            wall = stage(out, args.params, "--workers", workers, "--threads", threads)
            done = json.loads((out / "manifest.json").read_text())["experts"]
            rows[variant] = {"workers": int(workers), "threads": int(threads), "wall_s": round(wall, 1),
                             "expert_s": [round(e["seconds"], 1) for e in done], "md5": [e["md5"] for e in done]}
    first = args.variants[0]
    same = {v: [w for w in args.variants if rows[w]["md5"] == rows[v]["md5"]] for v in args.variants}
    print(json.dumps({"benchmark": "expert_workers", "machine": f"{platform.machine()} {os.cpu_count()} cpus",
                      "python": platform.python_version(), **git_state(),
                      "n_experts": len(manifest["experts"]), "variants": rows,
                      "speedup_over_first": {v: round(rows[first]["wall_s"] / rows[v]["wall_s"], 2) for v in args.variants},
                      "same_files": same}))


if __name__ == "__main__":
    main()
