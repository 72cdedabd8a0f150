"""Where a `dvc repro` spent its time: the wall time of every stage's MLflow run since a moment.

    start=$(date +%s); /usr/bin/time -f %e -o /tmp/wall dvc repro -f
    python benchmarks/pipeline_time.py --since $start --wall $(cat /tmp/wall)

Reads the top-level runs of the project's MLflow store (mlflow.db in the repo root) that started
after --since and prints one JSON line: seconds per run (start to end of the stage's tracked
work; Python start-up, imports and DVC's own bookkeeping fall outside), their sum, and, given
--wall, the whole command's wall time and the share the runs do not cover.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--since", type=float, required=True, help="unix time (s) the pipeline started")
    ap.add_argument("--wall", type=float, default=None, help="the pipeline's measured wall time (s)")
    args = ap.parse_args()
    os.chdir(ROOT)
    import mlflow

    from src.runtime import cpu_bf16
    from src.tracking import EXPERIMENT, cpu_name, tracking_uri

    mlflow.set_tracking_uri(tracking_uri())
    runs = mlflow.search_runs(experiment_names=[EXPERIMENT], filter_string=f"attributes.start_time >= {int(args.since * 1000)}",
                              output_format="list", max_results=10_000)
    top = [r for r in runs if "mlflow.parentRunId" not in r.data.tags and r.info.end_time]
    top.sort(key=lambda r: r.info.start_time)
    stages = {r.info.run_name: round((r.info.end_time - r.info.start_time) / 1000, 1) for r in top}
    total = round(sum(stages.values()), 1)
    out = {"benchmark": "pipeline_time", "machine": f"{platform.machine()} {os.cpu_count()} cpus", "processor": cpu_name(),
           "cpu_bf16": cpu_bf16(), "stages": stages, "stage_seconds": total}
    if args.wall is not None:
        out.update(wall_seconds=round(args.wall, 1), wall_minutes=round(args.wall / 60, 1),
                   outside_runs_seconds=round(args.wall - total, 1))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
