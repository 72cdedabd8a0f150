"""Stage `distill@<run>`: learn a synthetic set for one run of params.yaml's `runs`.

    python -m src.distill mnist-datadam-ipc10-real
    python -m src.distill mnist-pad-ipc10-real      (a key of `pad_runs`; needs models/experts/mnist)

Writes data/distilled/<dataset>/<method>_ipc<N>_<init>.safetensors (images, labels and
metadata; nothing pickled) and figures of the images at the start and at the end plus the
loss curve under reports/figures/<dataset>/. Checkpoints go to models/checkpoints/ every
`checkpoint_every` iterations; rerunning a killed run resumes from there (--no-resume starts over).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import typer

from src.ui import cli_errors, say

if TYPE_CHECKING:
    import torch

app = typer.Typer(add_completion=False, help=__doc__.splitlines()[0])
CKPT_DIR = Path("models/checkpoints")
EXPERTS = Path("models/experts")


class Outcome(NamedTuple):
    """What a method hands back to the stage: the run, its settings hash, the metadata it adds to
    the set, a summary for the console, and the lr stored in the set (PAD's learned lr, a 0-d
    tensor; None: evaluate at the protocol's lr, see src/evaluate.set_lr)."""

    result: Any
    key: str
    meta: dict
    summary: str = ""
    eval_lr: torch.Tensor | None = None


def run_distill(name: str, params_path: Path = Path("params.yaml"), resume: bool = True) -> Path:
    from src import tracking
    from src.config import find_run, load_params
    from src.data import store
    from src.distill import synthetic
    from src.errors import UserError
    from src.runtime import configure_threads, pick_device

    configure_threads()
    params = load_params(params_path)
    run = find_run(params, name)
    if run.dataset not in params.datasets:
        raise UserError(f"runs.{name}: dataset {run.dataset!r} is not in `datasets` {list(params.datasets)}")
    device = pick_device(params.device)
    ds = store.load(run.dataset)
    method = _pad if run.method == "pad" else _datadam
    cfg = getattr(params.distill, run.method)[run.dataset]
    settings = {"run": run.model_dump(), run.method: cfg.model_dump(), "seed": params.seed}
    out = Path("data/distilled") / run.dataset / f"{run.name}.safetensors"
    inputs = [store.PROCESSED / run.dataset / "data.safetensors"]
    if run.method == "pad" and (EXPERTS / run.dataset / "manifest.json").is_file():  # (if missing, Experts.open says how to build it)
        inputs.append(EXPERTS / run.dataset / "manifest.json")  # its md5 covers every trajectory's
    with tracking.run("distill", f"distill-{name}", {**settings, "preset": params.preset, "device": str(device)},
                      inputs=inputs, tags={"dataset": run.dataset, "method": run.method}) as log:
        outcome = method(name, run, cfg, ds, params.seed, device, settings, resume, log)
        result = outcome.result
        meta = {"dataset": run.dataset, "method": run.method, "ipc": run.ipc, "init": run.init,
                "mean": list(ds.mean), "std": list(ds.std), "params_hash": outcome.key, "params": settings,
                "seed": params.seed, **tracking.git_state(), "environment": tracking.environment(),
                "inputs": tracking.file_hashes(inputs),
                "seconds": result.seconds, "device": str(device),
                **outcome.meta}
        synthetic.save(out, result.images, result.labels, meta, lr=outcome.eval_lr)
        _figures(name, run, ds, result, cfg.iterations, log)
        iters = max(1, cfg.iterations - result.resumed_from)
        log.metrics({"seconds": result.seconds, "ms_per_iter": 1000 * result.seconds / iters,
                     **{k: v for k, v in outcome.meta.items() if isinstance(v, (int, float))}})
        log.artifact(out)
    (CKPT_DIR / f"{run.dataset}_{run.name}.safetensors").unlink(missing_ok=True)
    say(f"distill {name}: {cfg.iterations} iterations in {result.seconds:.0f}s, final loss "
        f"{result.losses[-1] if result.losses else float('nan'):.4f}{outcome.summary} -> {out}")
    return out


def _checkpoint(run, key: str, resume: bool) -> Path:
    """The run's checkpoint path, after saying what became of a checkpoint already there."""
    from src.distill import checkpoint

    ckpt = CKPT_DIR / f"{run.dataset}_{run.name}.safetensors"
    if note := checkpoint.claim(ckpt, key, resume):
        say(f"  {note}")
    return ckpt


def _progress(name: str):
    from src.ui import progress

    return lambda it, **kw: progress(it, desc=f"distill {name}", **kw)


def _datadam(name, run, cfg, ds, seed, device, settings, resume, log):
    from src.distill import datadam, synthetic

    key = synthetic.params_hash(settings)
    ckpt = _checkpoint(run, key, resume)
    result = datadam.distill(ds, cfg, run.ipc, run.init, seed, device, ckpt, key,
                             lambda it, row: log.metrics(row, step=it), progress=_progress(name))
    if result.resumed_from:
        say(f"  resumed from iteration {result.resumed_from} ({ckpt})")
    return Outcome(result, key, {})


def _pad(name, run, cfg, ds, seed, device, settings, resume, log):
    from src.distill import pad, synthetic
    from src.distill.experts import Experts
    from src.errors import UserError

    if run.init != "real":
        raise UserError(f"pad_runs.{name}: init {run.init!r}: PAD starts from real images the experts classify correctly "
                        "(use init: real)")
    root = EXPERTS / run.dataset
    experts = Experts.open(root, run.dataset)
    key = synthetic.params_hash({**settings, "experts": experts.manifest["key"],
                                 "expert_md5": [e["md5"] for e in experts.manifest["experts"]]})
    ckpt = _checkpoint(run, key, resume)
    result = pad.distill(ds, experts, cfg, run.ipc, seed, device, ckpt, key,
                         lambda it, row: log.metrics(row, step=it), progress=_progress(name))
    if result.resumed_from:
        say(f"  resumed from iteration {result.resumed_from} ({ckpt})")
    meta = {"experts": str(root), "n_experts": experts.n, "alpha": cfg.alpha_for(run.ipc),
            "learned_lr": float(result.lr), "skipped": result.skipped, "peak_mem_mb": result.peak_mem_mb,
            "unroll": result.unroll, "init_misclassified": result.init_fallback}
    if result.init_fallback:
        say(f"  note: {result.init_fallback} initial images are misclassified by the expert (too few correct ones "
            "in their class); they start from the lowest-loss misclassified images")
    summary = (f", learned lr {float(result.lr):.4g}, {result.skipped} skipped, "
               f"peak memory {result.peak_mem_mb:.0f} MB ({result.unroll} unroll)")
    # only eval_lr: learned stores the lr in the set; otherwise the protocol's lr applies
    return Outcome(result, key, meta, summary, eval_lr=result.lr if cfg.eval_lr == "learned" else None)


def _figures(name, run, ds, result, iterations, log) -> None:
    from src.figures import image_grid, loss_curve, plt

    fig_dir = Path("reports/figures") / run.dataset
    fig_dir.mkdir(parents=True, exist_ok=True)
    label = "DataDAM" if run.method == "datadam" else "PAD"
    figs = {f"{run.name}_start.png": image_grid(result.init_images, ds, run.ipc, f"{name}: start ({run.init} init)"),
            f"{run.name}_end.png": image_grid(result.images, ds, run.ipc, f"{name}: end ({iterations} iterations)"),
            f"{run.name}_loss.png": loss_curve(result.losses, f"{name}: {label} loss")}
    for fname, fig in figs.items():
        fig.savefig(fig_dir / fname, dpi=100, bbox_inches="tight")
        log.figure(fig, fname)
        plt.close(fig)  # a process that distills several sets would otherwise keep every figure alive


@app.command()
@cli_errors
def main(run: str = typer.Argument(..., help="a key of `runs` in params.yaml, e.g. mnist-datadam-ipc10-real"),
         params: Path = typer.Option(Path("params.yaml"), help="params file"),
         resume: bool = typer.Option(True, help="resume from the run's checkpoint if one exists")) -> None:
    """Distill one synthetic set."""
    run_distill(run, params, resume)


if __name__ == "__main__":
    app()
