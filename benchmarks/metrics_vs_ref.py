"""The pipeline's metrics in the working tree beside those committed at a git ref, as one JSON line.

    make repro            # on another machine, or after a change
    python benchmarks/metrics_vs_ref.py --ref HEAD --note "what ran"

For a run whose numbers are not meant to replace the committed ones (another CPU kind, another
precision): it keeps, per evaluation metrics file, the mean, spread and gain over the random anchor,
and per NAS proxy the rank statistics, each with the committed value and the difference; the
machine and bf16 flag each side ran with; and whether the distilled sets' content hashes match.
Reads only JSON (the metrics files and `git show REF:path`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
METRICS = Path("reports/metrics")
COMPARE_KEYS = ("spearman", "kendall", "spearman_top5", "spearman_top10", "top5_overlap", "top1_regret", "final_test_acc",
                "speedup", "search_seconds")


def committed(ref: str, path: Path) -> dict | None:
    out = subprocess.run(["git", "show", f"{ref}:{path.as_posix()}"], cwd=ROOT, capture_output=True, text=True)
    return json.loads(out.stdout) if out.returncode == 0 else None


def side_by_side(new: dict, old: dict | None, keys: tuple[str, ...]) -> dict:
    row = {}
    for k in keys:
        a, b = new.get(k), (old or {}).get(k)
        row[k] = a
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            row[f"{k}_ref"], row[f"{k}_diff"] = b, a - b
    return row


def evaluation_rows(ref: str) -> dict:
    rows = {}
    for path in sorted((ROOT / METRICS).rglob("*.json")):
        rel = path.relative_to(ROOT)
        new, old = json.loads(path.read_text()), committed(ref, rel)
        acc = "acc_mean" if "acc_mean" in new else "test_acc"
        if acc not in new:
            continue
        row = side_by_side(new, old, (acc, "acc_std", "gain_over_random", "seconds", "train_seconds"))
        row = {k: v for k, v in row.items() if v is not None}
        row["cpu_bf16"], row["cpu_bf16_ref"] = new.get("cpu_bf16"), (old or {}).get("cpu_bf16")
        if "content_hash" in new:
            row["content_hash_equal"] = new["content_hash"] == (old or {}).get("content_hash")
        for arch, c in (new.get("cross") or {}).items():
            ref_c = ((old or {}).get("cross") or {}).get(arch)
            row[f"cross_{arch}"] = side_by_side(c, ref_c, ("acc_mean",))
        rows[rel.with_suffix("").as_posix().removeprefix(f"{METRICS.as_posix()}/")] = row
    return rows


def nas_rows(ref: str) -> dict:
    rows = {}
    for path in sorted((ROOT / "reports/nas").glob("*_compare.json")):
        rel = path.relative_to(ROOT)
        new, old = json.loads(path.read_text()), committed(ref, rel) or {}
        ds = path.name.removesuffix("_compare.json")
        rows[ds] = {"full_best": new.get("full_best"), "full_best_ref": old.get("full_best"),
                    "full_search_seconds": new.get("full_search_seconds"),
                    "full_search_seconds_ref": old.get("full_search_seconds")}
        for proxy in ("synthetic", "random"):
            if proxy in new:
                rows[ds][proxy] = side_by_side(new[proxy], old.get(proxy), COMPARE_KEYS)
                rows[ds][proxy]["proxy_pick"] = new[proxy].get("proxy_pick")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", default="HEAD", help="the git ref whose committed metrics to compare with")
    ap.add_argument("--note", default="", help="what ran, for the record")
    args = ap.parse_args()
    from benchmarks.sweeps import provenance
    from src.runtime import cpu_bf16

    ref = subprocess.run(["git", "rev-parse", "--short", args.ref], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    print(json.dumps({"benchmark": "metrics_vs_ref", **provenance(), "cpu_bf16": cpu_bf16(), "ref": ref,
                      "evaluations": evaluation_rows(args.ref), "nas": nas_rows(args.ref), "note": args.note}))


if __name__ == "__main__":
    main()
