#!/usr/bin/env bash
# #5's ranking study at its size on the CPU: 36 ConvNets (depth 1-4 x width 8/16/32 x norm
# none/batch/instance, ReLU, average pooling), 2 seeds each, under the full, synthetic and random
# proxies, through the pipeline's own stage code in a scratch worktree (the pipeline's outputs stay
# untouched). The widths are the CPU profile's (the paper preset's 32-128 need a GPU); `full` trains
# NAS36_FULL_EPOCHS epochs (default 3) instead of the CPU profile's 1, so that its ranking, the
# reference every proxy is judged against, is of trained networks; the proxies keep the profile's
# 100 epochs on the pipeline's DataDAM ipc-10 set (rebuilt here by `python -m src.distill`) and a
# random real subset of its size, with 10 validation checkpoints each (nas-compare's budget curve).
# RUN names another MNIST set of the pipeline as the synthetic proxy (for PAD, the experts are
# built first); full data's study does not depend on it and is reused from the store.
#
#   bash benchmarks/nas_grid36.sh                 # ~1 h on a 2-core CPU
#   bash benchmarks/nas_grid36.sh mnist-pad-ipc10-real
#
# The Optuna studies live in NAS36_STORE (default /tmp/ddkit-nas36.db), outside the worktree, so
# rerunning the script after an interruption resumes them. Appends one JSON line to
# benchmarks/results/nas_grid36_cpu.jsonl (NAS36_RESULTS): nas-compare's output for both proxies and
# full data's own fewer-epochs curve, and, per proxy, `at_50x`: the checkpoint of the budget curve
# with the largest budget whose measured speedup over `full` is still >= 50x (a rule on timings
# alone, fixed before the run, so the budget is not picked for its ranking). Needs data/processed
# (dvc repro prepare) and .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=${NAS36_DIR:-/tmp/ddkit-nas36}
STORE=${NAS36_STORE:-/tmp/ddkit-nas36.db}
FULL_EPOCHS=${NAS36_FULL_EPOCHS:-3}
RESULTS=${NAS36_RESULTS:-$ROOT/benchmarks/results/nas_grid36_cpu.jsonl}
source benchmarks/scratch.sh
scratch_env
DEFAULT=$(python -c "import yaml; print(yaml.safe_load(open('params.yaml'))['nas']['mnist']['distilled'])")
RUN=${1:-mnist-${DEFAULT//_/-}}
read -r DS METHOD SET < <(scratch_run "$RUN") || true
[ -n "${SET:-}" ] || exit 2
[ "$DS" = mnist ] || { echo "error: $RUN: the 36-ConvNet grid is an MNIST study, not $DS" >&2; exit 2; }
scratch_worktree "$WORK"
t0=$(date +%s)
python benchmarks/nas36_params.py params.grid36.yaml --full-epochs "$FULL_EPOCHS"
# the reference first (a rerun finds it complete in the store); --distilled below leaves full data's
# settings, and so its study's name, as they are
python -m src.nas --dataset mnist --proxy full --no-final --params params.grid36.yaml --storage "sqlite:///$STORE"
[ "$METHOD" = pad ] && python -m src.experts mnist
python -m src.distill "$RUN" --no-resume
for proxy in synthetic random; do
  python -m src.nas --dataset mnist --proxy $proxy --distilled "$SET" --no-final --params params.grid36.yaml \
    --storage "sqlite:///$STORE"
done
python -m src.nas.compare --dataset mnist
python - "$SET" "$t0" "$FULL_EPOCHS" "${1:-}" >> "$RESULTS" <<'PY'
import json, subprocess, sys, time
from pathlib import Path
from src.distill import synthetic
from src.tracking import cpu_name
from benchmarks.nas36_params import proxy_stats
name, t0, full_epochs, run_arg = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
cmp = json.loads(Path("reports/nas/mnist_compare.json").read_text())
full = json.loads(Path("reports/nas/mnist_full.json").read_text())
committed = json.loads(Path(f"reports/metrics/mnist/{name}.json").read_text())
built = synthetic.load(f"data/distilled/mnist/{name}.safetensors", "mnist").meta["content_hash"]
r3 = lambda c: {k: round(v, 3) if isinstance(v, float) else v for k, v in c.items()}
row = {"benchmark": "nas_grid36", "machine": f"{cpu_name()} (2 cores)",
       "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip(),
       "n_archs": full["n_archs"], "seeds": full["seeds"], "full_epochs": full_epochs, "set": name,
       "set_content_hash": built, "set_matches_committed_metrics": built == committed.get("content_hash"),
       "full_best": cmp["full_best"], "full_search_seconds": round(cmp["full_search_seconds"], 1),
       "full_val_means": {k: round(v["val_mean"], 2) for k, v in full["results"].items()},
       "full_budget_curve": [r3(c) for c in cmp.get("full_budget_curve", [])]}
for proxy in ("synthetic", "random"):
    s = cmp[proxy]
    curve = [r3(c) for c in s["budget_curve"]]
    fast = [c for c in curve if c["speedup"] >= 50]
    stats = proxy_stats(cmp, proxy)
    row[proxy] = {**{k: v for k, v in stats.items() if k != "val_means"}, "at_50x": fast[-1] if fast else None,
                  "budget_curve": curve, "val_means": stats["val_means"]}
row["command"] = (f"NAS36_FULL_EPOCHS={full_epochs} " if full_epochs != 3 else "") + "bash benchmarks/nas_grid36.sh" + (f" {run_arg}" if run_arg else "")
row["wall_s"] = round(time.time() - t0)
print(json.dumps(row))
PY
tail -n 1 "$RESULTS"
