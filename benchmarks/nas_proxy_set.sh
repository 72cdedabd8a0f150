#!/usr/bin/env bash
# The NAS ranking study with another distilled set as the synthetic proxy, on the CPU profile,
# through the pipeline's own stage code in a scratch worktree (the pipeline's outputs stay untouched).
#
#   bash benchmarks/nas_proxy_set.sh [RUN]      # default RUN: mnist-pad-ipc10-real
#
# Builds RUN's distilled set as `dvc repro` would (for PAD, the experts first), checks its content
# hash against the committed metrics file (reports/metrics/<ds>/<set>.json), runs the synthetic-proxy
# study on it (`python -m src.nas --proxy synthetic --distilled <set> --no-final`), then nas-compare
# against the committed full-data and random-real studies (reports/nas/<ds>_{full,random}.json):
# the same 18 ConvNets, seeds and budgets as the pipeline's, so the rows differ only in the set.
# NAS_SEEDS=N reruns the full-data study with N seeds per candidate as well (the committed random
# study, with the pipeline's seeds, then drops out of the comparison), so a proxy's pick can be
# checked against seed noise. Appends one JSON line to benchmarks/results/nas_proxy_sets_cpu.jsonl (NAS_PROXY_RESULTS). Its
# speedup divides the committed full study's seconds (another session's machine load) by this
# run's: a ratio across runs, not a timing. Needs data/processed (dvc repro prepare) and .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUN=${1:-mnist-pad-ipc10-real}
WORK=${NAS_PROXY_DIR:-/tmp/ddkit-nas-proxy}
RESULTS=${NAS_PROXY_RESULTS:-$ROOT/benchmarks/results/nas_proxy_sets_cpu.jsonl}
source benchmarks/scratch.sh
scratch_env
read -r DS METHOD SET < <(scratch_run "$RUN") || true
[ -n "${SET:-}" ] || exit 2
scratch_worktree "$WORK"
t0=$(date +%s)
[ "$METHOD" = pad ] && python -m src.experts "$DS"
python -m src.distill "$RUN" --no-resume
P=params.yaml
if [ -n "${NAS_SEEDS:-}" ]; then
  P=params.seeds.yaml
  python - "$DS" "$NAS_SEEDS" <<'PY'
import sys, yaml
raw = yaml.safe_load(open("params.yaml"))
raw["nas"][sys.argv[1]]["seeds"] = int(sys.argv[2])
yaml.safe_dump(raw, open("params.seeds.yaml", "w"), sort_keys=False)
PY
  rm -f "reports/nas/${DS}_random.json"
  python -m src.nas --dataset "$DS" --proxy full --no-final --params $P
fi
python -m src.nas --dataset "$DS" --proxy synthetic --distilled "$SET" --no-final --params $P
python -m src.nas.compare --dataset "$DS"
python - "$DS" "$SET" "$t0" "$RUN" "${NAS_SEEDS:-}" >> "$RESULTS" <<'PY'
import json, platform, subprocess, sys, time
from pathlib import Path
from src.distill import synthetic
ds, name, t0 = sys.argv[1], sys.argv[2], int(sys.argv[3])
cmp = json.loads(Path(f"reports/nas/{ds}_compare.json").read_text())
syn = json.loads(Path(f"reports/nas/{ds}_synthetic.json").read_text())
committed = json.loads(Path(f"reports/metrics/{ds}/{name}.json").read_text())
built = synthetic.load(f"data/distilled/{ds}/{name}.safetensors", ds).meta["content_hash"]
keep = ("spearman", "kendall", "spearman_top5", "top5_overlap", "spearman_top10", "proxy_pick", "full_best",
        "top1_regret", "search_seconds", "speedup")
print(json.dumps({"benchmark": "nas_proxy_set", "machine": f"{platform.machine()} (2 cores)",
                  "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip(),
                  "dataset": ds, "set": name, "seeds": syn["seeds"], "full_rerun": bool(sys.argv[5]),
                  "full_best": cmp["full_best"], "set_content_hash": built,
                  "set_matches_committed_metrics": built == committed.get("content_hash"), "set_test_acc": committed.get("acc_mean"),
                  "synthetic": {k: cmp["synthetic"].get(k) for k in keep},
                  "synthetic_budget_curve": [{k: round(v, 3) if isinstance(v, float) else v for k, v in c.items()}
                                             for c in cmp["synthetic"]["budget_curve"]],
                  "random_committed": {k: cmp.get("random", {}).get(k) for k in keep},
                  "val_means": {k: round(v["val_mean"], 2) for k, v in syn["results"].items()},
                  "command": (f"NAS_SEEDS={sys.argv[5]} " if sys.argv[5] else "") + f"bash benchmarks/nas_proxy_set.sh {sys.argv[4]}",
                  "wall_s": round(time.time() - t0)}))
PY
tail -n 1 "$RESULTS"
