#!/usr/bin/env bash
# DataDAM before/after A/B on the CPU, alternating, one process per line (what wrote
# benchmarks/results/datadam_fused_ab_cpu.jsonl in session 8, BEFORE=0605e50):
#   git worktree add /tmp/before <commit>; BEFORE=/tmp/before bash benchmarks/datadam_ab.sh > out.jsonl
# Per pair and variant: bench_datadam.py at the CPU profile's sizes (ipc 10, w64, bf16), then the
# tiny-size host-work probe of that tree's host_overhead.py (compiled; both trees need one, which puts
# its own tree first on sys.path).
set -euo pipefail
cd "$(dirname "$0")/.."
AFTER=$PWD
: "${BEFORE:?set BEFORE to a worktree of the commit to compare against}"
ROOT=$PWD
source benchmarks/scratch.sh
scratch_env  # as `make repro` runs stages (DD_TRACKING=0, glibc malloc tunables)
PY=${PY:-.venv/bin/python}
for pair in 1 2 3; do
  for root in "$BEFORE" "$AFTER"; do
    v=$([ "$root" = "$BEFORE" ] && echo before || echo after)
    "$PY" "$root/benchmarks/bench_datadam.py" --device cpu --ipc 10 --width 64 --amp-cpu --iterations 40 2>/dev/null | tail -1 \
      | python3 -c "import json,sys; d=json.load(sys.stdin); d.update(variant='$v', pair=$pair, probe='cpu_profile_sizes'); print(json.dumps(d))"
    "$PY" - "$root" <<'PY' 2>/dev/null | tail -1 | python3 -c "import json,sys; d=json.load(sys.stdin); d.update(variant='$v', pair=$pair); print(json.dumps(d))"
import importlib.util, json, sys
root = sys.argv[1]
spec = importlib.util.spec_from_file_location("ho", f"{root}/benchmarks/host_overhead.py")
ho = importlib.util.module_from_spec(spec); spec.loader.exec_module(ho)
import torch
torch.set_num_threads(1)
print(json.dumps({"benchmark": "datadam_host_overhead", "probe": "tiny_sizes_host_work", "threads": 1,
                  **ho.datadam_probe(ho.tiny_mnist(), True, 200)}))
PY
  done
done
