"""Several NAS workers on one sqlite study: how often is a grid point lost or run twice?

    python benchmarks/nas_workers_stress.py [--rounds 60] [--workers 4] [--out FILE]

Each round creates a fresh grid study (6 points), starts `--workers` processes that run
src.nas.study.run_worker on it with a 50 ms objective, and checks that the workers' counts add up
to 6 and that exactly 6 distinct points completed. Two storages are compared in the same run,
rounds interleaved: `optuna` (Optuna's RDBStorage on sqlite as it comes, with the lock timeout we
use) and `ddkit` (src.nas.study.rdb_storage, which begins every sqlite transaction with BEGIN
IMMEDIATE). Prints one JSON line; with --out also appends it there. A bad round in `ddkit` is a bug.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import optuna  # noqa: E402

from src.nas import study as st  # noqa: E402

SPACE = {"x": [1, 2, 3], "y": ["a", "b"]}
POINTS = [{"x": x, "y": y} for x in SPACE["x"] for y in SPACE["y"]]


def objective(trial) -> float:
    x = trial.suggest_categorical("x", SPACE["x"])
    y = trial.suggest_categorical("y", SPACE["y"])
    trial.set_user_attr("arch", f"{x}{y}")
    time.sleep(0.05)  # long enough for the workers to run in step
    return x + (y == "b")


def storage_for(variant: str, url: str):
    if variant == "ddkit":
        return st.rdb_storage(url)
    return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})


def worker(variant: str, url: str, q) -> None:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        study = st.open_study("stress", storage_for(variant, url), SPACE, "grid", 0, POINTS)
        q.put(("ok", st.run_worker(study, objective, "grid", n_trials=None)))
    except Exception as e:  # a worker that crashes on the race is a bad round, not a crashed benchmark
        q.put(("error", type(e).__name__))


def one_round(variant: str, workers: int, ctx) -> dict:
    with tempfile.TemporaryDirectory() as d:
        url = f"sqlite:///{Path(d) / 'stress.db'}"
        st.open_study("stress", storage_for(variant, url), SPACE, "grid", 0, POINTS)  # schema + grid, once
        q = ctx.Queue()
        procs = [ctx.Process(target=worker, args=(variant, url, q)) for _ in range(workers)]
        for p in procs:
            p.start()
        reports = [q.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(30)
        study = optuna.load_study(study_name="stress", storage=url)
        complete = [t.user_attrs["arch"] for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    errors = [r[1] for r in reports if r[0] == "error"]
    counted = sum(r[1] for r in reports if r[0] == "ok")
    n = len(POINTS)
    return {"bad": bool(errors) or counted != n or len(complete) != n or len(set(complete)) != n,
            "errors": errors, "repeated": len(complete) - len(set(complete))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=60)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    ctx = mp.get_context("fork")  # the workers only need this module; fork keeps rounds short
    variants = ("optuna", "ddkit")
    res = {v: {"bad_rounds": 0, "repeated_points": 0, "worker_errors": {}, "seconds": 0.0} for v in variants}
    for _ in range(args.rounds):
        for v in variants:
            t0 = time.perf_counter()
            r = one_round(v, args.workers, ctx)
            res[v]["seconds"] += time.perf_counter() - t0
            res[v]["bad_rounds"] += r["bad"]
            res[v]["repeated_points"] += r["repeated"]
            for e in r["errors"]:
                res[v]["worker_errors"][e] = res[v]["worker_errors"].get(e, 0) + 1
    for v in variants:
        res[v]["seconds"] = round(res[v]["seconds"], 1)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[1]).stdout.strip()
    out = {"benchmark": "nas_workers_stress", "machine": f"{platform.machine()} {os.cpu_count()} cpus",
           "commit": commit, "optuna_version": optuna.__version__, "rounds": args.rounds, "workers": args.workers,
           "grid_points": len(POINTS), **res}
    line = json.dumps(out)
    print(line)
    if args.out:
        with args.out.open("a") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
