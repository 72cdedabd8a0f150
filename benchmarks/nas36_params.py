"""Write params.yaml with #5's 36-ConvNet grid (depth 1-4 x width 8/16/32 x norm none/batch/instance)
for nas_grid36.sh and nas_short_budget.sh: the CPU profile's NAS settings otherwise, full data at
--full-epochs, and optionally another proxy budget. The study names hash these settings, so both
scripts must write them the same way to share the full-data study.

    python benchmarks/nas36_params.py params.grid36.yaml --full-epochs 3 [--proxy-epochs 12 --proxy-lr 0.05 --eval-points 1]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

GRID36 = {"depth": [1, 2, 3, 4], "width": [8, 16, 32], "norm": ["none", "batch", "instance"]}


def grid36_params(raw: dict, full_epochs: int, proxy_epochs: int | None = None, proxy_lr: float | None = None,
                  eval_points: int | None = None) -> dict:
    nas = raw["nas"]["mnist"]
    nas["space"] = dict(GRID36)
    nas["full"]["epochs"] = full_epochs
    if proxy_epochs is not None:
        nas["proxy"]["epochs"] = proxy_epochs
    if proxy_lr is not None:
        nas["proxy"]["lr"] = proxy_lr
    if eval_points is not None:
        nas["eval_points"] = eval_points
    return raw


STATS = ("spearman", "kendall", "spearman_top5", "spearman_top10", "top5_overlap", "proxy_pick", "top1_regret",
         "search_seconds", "speedup")


def proxy_stats(cmp: dict, proxy: str, nas_dir: Path = Path("reports/nas")) -> dict:
    """One proxy's row in both scripts' results: nas-compare's statistics (floats to 3 places) and
    the proxy study's per-network validation scores (2 places)."""
    res = json.loads((nas_dir / f"mnist_{proxy}.json").read_text())
    row = {k: round(v, 3) if isinstance(v := cmp[proxy].get(k), float) else v for k in STATS}
    row["val_means"] = {k: round(v["val_mean"], 2) for k, v in res["results"].items()}
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--full-epochs", type=int, default=3)
    ap.add_argument("--proxy-epochs", type=int)
    ap.add_argument("--proxy-lr", type=float)
    ap.add_argument("--eval-points", type=int)
    a = ap.parse_args()
    with open(a.params) as f:
        raw = yaml.safe_load(f)
    raw = grid36_params(raw, a.full_epochs, a.proxy_epochs, a.proxy_lr, a.eval_points)
    with open(a.out, "w") as f:
        yaml.safe_dump(raw, f, sort_keys=False)


if __name__ == "__main__":
    main()
