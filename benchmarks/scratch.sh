# Sourced by the scripts that run the pipeline's stage code outside the pipeline (paper_cpu.sh,
# nas_proxy_set.sh, datadam_ab.sh): the environment `make repro` gives every stage, and a scratch
# git worktree of HEAD whose data/processed links to this checkout's. The worktree holds committed
# code only, so the commit a result row names is exactly what ran; it is removed again on exit.
#
#   ROOT=$PWD; source benchmarks/scratch.sh
#   scratch_env                 # PATH with .venv first, no MLflow runs, glibc malloc tunables
#   scratch_worktree DIR        # cd into a fresh worktree of HEAD at DIR (removed on exit)
#   read -r DS METHOD SET < <(scratch_run RUN)   # a pipeline run name's dataset, method and set name

scratch_env() {
  export DD_TRACKING=0 PYTHONUNBUFFERED=1 PATH="$ROOT/.venv/bin:$PATH"
  GLIBC_TUNABLES=${GLIBC_TUNABLES:-$(make -s --no-print-directory -C "$ROOT" malloc-tunables)}
  export GLIBC_TUNABLES
}

scratch_worktree() {
  [ -d "$ROOT/data/processed/mnist" ] || { echo "error: $ROOT/data/processed/mnist missing: run \`dvc repro prepare\` first" >&2; exit 2; }
  WORK=$1
  rm -rf "$WORK"; git -C "$ROOT" worktree prune
  git -C "$ROOT" worktree add --detach "$WORK" HEAD -q
  trap 'cd "$ROOT"; git worktree remove --force "$WORK"' EXIT
  cd "$WORK"
  rm -rf data/processed && ln -s "$ROOT/data/processed" data/processed
}

scratch_run() {
  python - "$1" <<'PY'
import sys
from src.config import find_run, load_params
from src.errors import UserError
try:
    run = find_run(load_params(), sys.argv[1])
except UserError as e:
    sys.exit(f"error: {e}")
print(run.dataset, run.method, f"{run.method}_ipc{run.ipc}_{run.init}")
PY
}
