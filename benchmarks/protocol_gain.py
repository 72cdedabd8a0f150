"""The evaluation-protocol scans' adoption rule (session 24, fixed in commit b54fc6b) applied to
datadam_sweep.py's rows: each protocol's validation gain over the `base` protocol of the same
variant, the standard error of that difference (sample std of each side's per-model accuracies,
sqrt(s1^2/n1 + s2^2/n2)), the bar max(0.3 points, 2 SE) and whether the gain clears it. One JSON
line per non-base protocol.

    python benchmarks/protocol_gain.py --session 32 [benchmarks/results/datadam_sweep_cpu.jsonl]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

MIN_GAIN = 0.3  # points


def gain(base: list[float], other: list[float]) -> dict:
    se = math.sqrt(statistics.variance(base) / len(base) + statistics.variance(other) / len(other))
    diff = statistics.mean(other) - statistics.mean(base)
    bar = max(MIN_GAIN, 2 * se)
    return {"gain": round(diff, 3), "se": round(se, 3), "bar": round(bar, 3), "adopt": diff > bar}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="?", type=Path, default=Path("benchmarks/results/datadam_sweep_cpu.jsonl"))
    ap.add_argument("--session", type=int, required=True)
    a = ap.parse_args()
    rows = [r for r in map(json.loads, a.results.read_text().splitlines()) if r.get("session") == a.session]
    bases = {(r["variant"], r["ipc"]): r for r in rows if r.get("protocol") == "base"}
    if not bases:
        raise SystemExit(f"error: {a.results}: no rows with \"session\": {a.session} and protocol base")
    for r in rows:
        base = bases.get((r["variant"], r["ipc"]))
        if r.get("protocol") in (None, "base") or base is None:
            continue
        print(json.dumps({"session": a.session, "ipc": r["ipc"], "variant": r["variant"], "protocol": r["protocol"],
                          "base_acc": base["acc_mean"], "acc": r["acc_mean"], **gain(base["accs"], r["accs"])}))


if __name__ == "__main__":
    main()
