#!/usr/bin/env bash
# The `paper` preset's MNIST DataDAM run(s) at full length on this machine's CPU, through the
# pipeline's own stage code, in a scratch worktree (so the pipeline's outputs stay untouched).
#
#   bash benchmarks/paper_cpu.sh [IPC ...]        # default: 1; results -> benchmarks/results/paper_cpu.jsonl
#
# Per images-per-class value: distillation (the preset's 8,000 iterations, ConvNet-3 w128), its
# evaluation (10 ConvNet-3 w128 x 1,000 epochs, final iterate, no cross-architecture models: those
# take minutes per model here) and the random-real anchor of the same size. ipc 1 takes about 35 min
# on the 2-core machine (0.2 s per iteration). Needs data/processed (dvc repro prepare) and .venv.
# PAPER_CPU_SMOKE=1 runs the same steps at gpu_params.py's --smoke sizes (a rehearsal of the script);
# PAPER_CPU_RESULTS names the JSONL file the rows are appended to. PAPER_CPU_MODELS and
# PAPER_CPU_ANCHOR_MODELS set how many networks score the distilled set and the anchor (default: the
# preset's 10 each; at ipc 50 a network takes about 4.5 min here, session 28); the
# rows record each n_models.
# PAPER_CPU_KEEP=DIR copies each distilled set and its metrics there before the scratch worktree goes
# (`datadam_sweep.py --set DIR/datadam_ipcN_real.safetensors` then scores it on validation).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=${PAPER_CPU_DIR:-/tmp/ddkit-paper-cpu}
IPCS=("${@:-1}")
RESULTS=${PAPER_CPU_RESULTS:-$ROOT/benchmarks/results/paper_cpu.jsonl}
SMOKE=(); [ -n "${PAPER_CPU_SMOKE:-}" ] && SMOKE=(--smoke)
source benchmarks/scratch.sh
scratch_env
scratch_worktree "$WORK"
models() { [ -n "${1:-}" ] && echo --n-models "$1"; true; }
# the paper preset (DataDAM iterations as the preset says), with the anchor's own file when it is
# scored by another number of networks
python benchmarks/gpu_params.py params.paper.yaml "${SMOKE[@]}" $(models "${PAPER_CPU_MODELS:-}")
python benchmarks/gpu_params.py params.anchor.yaml "${SMOKE[@]}" $(models "${PAPER_CPU_ANCHOR_MODELS:-${PAPER_CPU_MODELS:-}}")
for ipc in "${IPCS[@]}"; do
  t0=$(date +%s)
  python -m src.distill "mnist-datadam-ipc$ipc-real" --params params.paper.yaml --no-resume
  python -m src.evaluate random mnist "$ipc" --params params.anchor.yaml   # before the evaluation, which reads it
  python -m src.evaluate distilled "mnist-datadam-ipc$ipc-real" --params params.paper.yaml
  if [ -n "${PAPER_CPU_KEEP:-}" ]; then
    mkdir -p "$PAPER_CPU_KEEP"
    cp "data/distilled/mnist/datadam_ipc${ipc}_real.safetensors" "reports/metrics/mnist/datadam_ipc${ipc}_real.json" \
      "reports/metrics/mnist/random_ipc${ipc}.json" "$PAPER_CPU_KEEP/"
  fi
  python - "$ipc" "$t0" >> "$RESULTS" <<'PY'
import json, platform, subprocess, sys, time
from pathlib import Path
ipc, t0 = sys.argv[1], int(sys.argv[2])
m = json.loads(Path(f"reports/metrics/mnist/datadam_ipc{ipc}_real.json").read_text())
r = json.loads(Path(f"reports/metrics/mnist/random_ipc{ipc}.json").read_text())
from src.distill import synthetic
keep = ("acc_mean", "acc_std", "n_models", "accs", "model", "eval_lr", "seconds", "device", "preset", "content_hash", "random_acc_mean")
meta = synthetic.load(f"data/distilled/mnist/datadam_ipc{ipc}_real.safetensors", "mnist").meta  # checked, as the stages read it
cfg = meta["params"]["datadam"]
from src.tracking import cpu_name
print(json.dumps({"benchmark": "paper_cpu", "machine": f"{platform.machine()} {cpu_name()}", "method": "datadam", "ipc": int(ipc),
                  "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip(),
                  "distilled": {k: m[k] for k in keep if k in m}, "random": {k: r[k] for k in keep if k in r},
                  "set": {k: meta.get(k) for k in ("seconds", "git_commit", "params_hash", "device")},
                  "recipe": {k: cfg[k] for k in ("model", "iterations", "batch_real", "lam", "power", "lr_img")},
                  "wall_s": round(time.time() - t0)}))
PY
done
tail -n "${#IPCS[@]}" "$RESULTS"
