"""Post-hoc readings of nas_grid36.sh's rows: each proxy's Spearman rho against full data over
subsets of the grid (by norm layer and depth), and how each proxy scores a batch-norm network
against its instance-norm twin. Reads only the committed per-network scores (`val_means`), so it
needs no training; one JSON line per row of the results file.

    python benchmarks/nas_grid36_subsets.py [benchmarks/results/nas_grid36_cpu.jsonl]
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from src.nas.ranking import spearman

SUBSETS = {
    "all": lambda k: True,
    "instance": lambda k: "-instance-" in k,
    "batch": lambda k: "-batch-" in k,
    "norm": lambda k: "-none-" not in k,
    "depth1-3": lambda k: not k.startswith("d4"),
    "depth1-3_norm": lambda k: "-none-" not in k and not k.startswith("d4"),
}


def batch_minus_instance(scores: dict[str, float]) -> float:
    """Mean, over the grid's instance-norm networks, of its batch-norm twin's score minus its own."""
    return statistics.mean(scores[k.replace("-instance-", "-batch-")] - v for k, v in scores.items() if "-instance-" in k)


def subsets(row: dict) -> dict:
    full = row["full_val_means"]
    out = {"set": row["set"], "commit": row["commit"], "command": row["command"],
           "full_batch_minus_instance": round(batch_minus_instance(full), 2)}
    for proxy in ("synthetic", "random"):
        scores = row[proxy]["val_means"]
        keys = {name: [k for k in full if keep(k)] for name, keep in SUBSETS.items()}
        out[proxy] = {"spearman": {name: round(spearman([full[k] for k in ks], [scores[k] for k in ks]), 2)
                                   for name, ks in keys.items()},
                      "batch_minus_instance": round(batch_minus_instance(scores), 2)}
    return out


def main() -> None:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results/nas_grid36_cpu.jsonl")
    for line in path.read_text().splitlines():
        row = json.loads(line)
        if "val_means" in row.get("synthetic", {}):  # the first row predates per-network scores
            print(json.dumps(subsets(row)))


if __name__ == "__main__":
    main()
