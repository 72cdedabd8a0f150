"""Stage `distill@<run>`: learn a synthetic set for one run of params.yaml's `runs`.

    python -m src.distill mnist-datadam-ipc10-real

Writes data/distilled/<dataset>/<method>_ipc<N>_<init>.safetensors (images, labels and
metadata; nothing pickled) and figures of the images at the start and at the end plus the
loss curve under reports/figures/<dataset>/. Checkpoints go to models/checkpoints/ every
`checkpoint_every` iterations; rerunning a killed run resumes from there (--no-resume starts over).
"""

from __future__ import annotations

from pathlib import Path

import typer

from src.ui import cli_errors, say

app = typer.Typer(add_completion=False, help=__doc__.splitlines()[0])
CKPT_DIR = Path("models/checkpoints")


def run_distill(name: str, params_path: Path = Path("params.yaml"), resume: bool = True) -> Path:
    from src import tracking
    from src.config import find_run, load_params
    from src.data import store
    from src.distill import datadam, synthetic
    from src.errors import UserError
    from src.figures import image_grid, loss_curve
    from src.runtime import configure_threads, pick_device
    from src.ui import progress

    configure_threads()
    params = load_params(params_path)
    run = find_run(params, name)
    if run.dataset not in params.datasets:
        raise UserError(f"runs.{name}: dataset {run.dataset!r} is not in `datasets` {list(params.datasets)}")
    cfg = params.distill.datadam[run.dataset]
    device = pick_device(params.device)
    ds = store.load(run.dataset)
    settings = {"run": run.model_dump(), "datadam": cfg.model_dump(), "seed": params.seed}
    key = synthetic.params_hash(settings)
    ckpt = CKPT_DIR / f"{run.dataset}_{run.name}.safetensors"
    if not resume:
        ckpt.unlink(missing_ok=True)
    out = Path("data/distilled") / run.dataset / f"{run.name}.safetensors"
    fig_dir = Path("reports/figures") / run.dataset
    data_file = store.PROCESSED / run.dataset / "data.safetensors"
    with tracking.run("distill", f"distill-{name}", {**settings, "preset": params.preset, "device": str(device)},
                      inputs=[data_file], tags={"dataset": run.dataset, "method": run.method}) as log:
        def on_log(it: int, row: dict) -> None:
            log.metrics(row, step=it)

        result = datadam.distill(ds, cfg, run.ipc, run.init, params.seed, device, ckpt, key, on_log,
                                 progress=lambda it, **kw: progress(it, desc=f"distill {name}", **kw))
        if result.resumed_from:
            say(f"  resumed from iteration {result.resumed_from} ({ckpt})")
        meta = {"dataset": run.dataset, "method": run.method, "ipc": run.ipc, "init": run.init,
                "mean": list(ds.mean), "std": list(ds.std), "params_hash": key, "params": settings,
                "seed": params.seed, **tracking.git_state(), "seconds": result.seconds, "device": str(device)}
        synthetic.save(out, result.images, result.labels, meta)
        fig_dir.mkdir(parents=True, exist_ok=True)
        figs = {f"{run.name}_start.png": image_grid(result.init_images, ds, run.ipc, f"{name}: start ({run.init} init)"),
                f"{run.name}_end.png": image_grid(result.images, ds, run.ipc, f"{name}: end ({cfg.iterations} iterations)"),
                f"{run.name}_loss.png": loss_curve(result.losses, f"{name}: DataDAM loss")}
        for fname, fig in figs.items():
            fig.savefig(fig_dir / fname, dpi=100, bbox_inches="tight")
            log.figure(fig, fname)
        log.metrics({"seconds": result.seconds, "ms_per_iter": 1000 * result.seconds / max(1, cfg.iterations - result.resumed_from)})
        log.artifact(out)
    ckpt.unlink(missing_ok=True)
    say(f"distill {name}: {cfg.iterations} iterations in {result.seconds:.0f}s, final loss "
        f"{result.losses[-1] if result.losses else float('nan'):.4f} -> {out}")
    return out


@app.command()
@cli_errors
def main(run: str = typer.Argument(..., help="a key of `runs` in params.yaml, e.g. mnist-datadam-ipc10-real"),
         params: Path = typer.Option(Path("params.yaml"), help="params file"),
         resume: bool = typer.Option(True, help="resume from the run's checkpoint if one exists")) -> None:
    """Distill one synthetic set."""
    run_distill(run, params, resume)


if __name__ == "__main__":
    app()
