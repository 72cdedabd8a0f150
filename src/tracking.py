"""The one module that talks to MLflow.

The tracking store is pinned to the repository root (`sqlite:///mlflow.db`, artifacts in
`mlruns/`), so `mlflow ui` started there shows every run of every stage. `MLFLOW_TRACKING_URI`
overrides it (tests use a temporary store); `DD_TRACKING=0` turns logging off.
Each run records its params, the git commit and dirty flag (pipeline outputs aside), the md5 (DVC's file hash) of every
input it read, the environment that ran it (`env.*` tags: torch build and thread count, CPU, GPU),
per-epoch metrics, system metrics and figures. `import mlflow` costs about a
second, so it happens inside `run()`, never at import time.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

from src.data.fsutil import md5sum

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENT = "ddkit"


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{ROOT / 'mlflow.db'}"


def enabled() -> bool:
    return os.environ.get("DD_TRACKING", "1") != "0"


def pipeline_outputs(root: Path = ROOT) -> set[str]:
    """The paths DVC writes (every `outs` entry in dvc.lock, and dvc.lock itself): a stage that runs
    while earlier stages' outputs are uncommitted still runs the committed code."""
    import yaml

    outs = {"dvc.lock"}
    try:
        lock = yaml.safe_load((root / "dvc.lock").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return outs
    for stage in (lock.get("stages") or {}).values():
        outs.update(o["path"] for o in (stage or {}).get("outs") or [] if isinstance(o, dict) and "path" in o)
    return outs


def git_state(root: Path = ROOT) -> dict[str, str]:
    """The commit, and whether the tree differs from it outside the pipeline's outputs (`git_dirty`,
    the paths in `git_dirty_paths`): a modified tracked file, or an untracked one git does not
    ignore (a new module imports as well as a committed one). Inside `dvc repro` the earlier stages'
    metrics and dvc.lock are always modified, so counting them would mark every run dirty and say nothing."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout
        except (OSError, subprocess.CalledProcessError):
            return ""

    commit = git("rev-parse", "HEAD").strip() or "unknown"
    fields = git("status", "--porcelain", "-z", "--untracked-files=all").split("\0")
    changed, i = [], 0
    while i < len(fields):
        entry = fields[i]
        if len(entry) > 3:
            changed.append(entry[3:])
            i += 1 if entry[0] not in "RC" else 2  # a rename is followed by its source path
        else:
            i += 1
    outs = pipeline_outputs(root)
    source = sorted(p for p in changed if not any(p == o or p.startswith(o.rstrip("/") + "/") for o in outs))
    state = {"git_commit": commit, "git_dirty": str(bool(source)).lower()}
    if source:
        state["git_dirty_paths"] = " ".join(source[:20]) + (f" (+{len(source) - 20} more)" if len(source) > 20 else "")
    return state


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict[str, str]:
    """What ran this process, beyond code and data. On the CPU the numbers depend on torch's thread
    count (a reduction split over other threads sums in another order), and on any device on the
    torch build, so both travel with every run and every distilled set, with whether this CPU
    grants `amp_cpu` bf16 (`cpu_bf16`). torch is read from `sys.modules`, not imported: a stage
    that never loaded it computed nothing with it."""
    env = {"python": platform.python_version(), "platform": platform.platform(), "cpu": cpu_name()}
    torch = sys.modules.get("torch")
    if torch is not None:
        env.update(torch=torch.__version__, torch_threads=str(torch.get_num_threads()))
        runtime = sys.modules.get("src.runtime")  # likewise: only a stage that computed has made the choice
        if runtime is not None:
            env.update(cpu_bf16=str(runtime.cpu_bf16()).lower())
        if torch.cuda.is_available():
            env.update(cuda=str(torch.version.cuda), gpu=torch.cuda.get_device_name())
    return env


def flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        elif isinstance(v, (list, tuple)):
            out[key] = json.dumps(v, default=str)
        else:
            out[key] = v
    return out


def file_hashes(paths: list[str | Path]) -> dict[str, str]:
    """md5 of each file (the hash DVC records for a file; a directory: each file in it), keyed by
    repo-relative path."""
    out = {}
    for p in map(Path, paths):
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        for f in files:
            try:
                rel = f.resolve().relative_to(ROOT)
            except ValueError:
                rel = f
            out[str(rel)] = md5sum(f)
    return out


def input_hashes(paths: list[str | Path]) -> dict[str, str]:
    """`file_hashes` as MLflow params (`input_md5.<path>`)."""
    return {f"input_md5.{k}": v for k, v in file_hashes(paths).items()}


class Tracker:
    """What a stage logs through; every method is a no-op when tracking is off."""

    def __init__(self, mlflow=None, run_id: str | None = None):
        self._m = mlflow
        self.run_id = run_id

    def metrics(self, values: dict[str, float], step: int | None = None) -> None:
        if self._m:
            self._m.log_metrics({k: float(v) for k, v in values.items()}, step=step)

    def params(self, values: dict[str, Any]) -> None:
        if self._m:
            self._m.log_params(flatten(values))

    def tags(self, values: dict[str, str]) -> None:
        if self._m:
            self._m.set_tags(values)

    def figure(self, fig, name: str) -> None:
        if self._m:
            self._m.log_figure(fig, name)

    def artifact(self, path: str | Path, subdir: str | None = None) -> None:
        if self._m:
            self._m.log_artifact(str(path), subdir)

    def json(self, obj: Any, name: str) -> None:
        if self._m:
            with tempfile.TemporaryDirectory() as d:
                p = Path(d) / name
                p.write_text(json.dumps(obj, indent=2, default=str))
                self._m.log_artifact(str(p))


@contextlib.contextmanager
def run(stage: str, name: str, params: dict, inputs: list[str | Path] = (), nested: bool = False,
        tags: dict[str, str] | None = None) -> Iterator[Tracker]:
    """An MLflow run for one stage execution, with provenance logged up front."""
    if not enabled():
        yield Tracker()
        return
    import logging

    import mlflow

    logging.getLogger("mlflow").setLevel(logging.WARNING)  # keep stage output to its summary lines
    mlflow.set_tracking_uri(tracking_uri())
    exp = mlflow.get_experiment_by_name(EXPERIMENT)
    # artifacts beside the store: the repo's mlruns/ for the pinned store, the cwd's for an override
    artifacts = ROOT / "mlruns" if "MLFLOW_TRACKING_URI" not in os.environ else Path.cwd() / "mlruns"
    exp_id = exp.experiment_id if exp else mlflow.create_experiment(EXPERIMENT, artifacts.as_uri())
    mlflow.set_system_metrics_sampling_interval(float(os.environ.get("DD_SYSTEM_METRICS_INTERVAL", "2")))
    mlflow.set_system_metrics_samples_before_logging(1)
    with mlflow.start_run(experiment_id=exp_id, run_name=name, nested=nested, log_system_metrics=True) as r:
        env = {f"env.{k}": v for k, v in environment().items()}
        mlflow.set_tags({"stage": stage, **git_state(), **env, **(tags or {})})
        mlflow.log_params({**flatten(params), **input_hashes(list(inputs))})
        yield Tracker(mlflow, r.info.run_id)
