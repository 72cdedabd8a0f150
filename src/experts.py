"""Stage `experts@<dataset>`: PAD's difficulty scores and expert trajectories.

    python -m src.experts mnist

Scores every pool sample with EL2N, then trains `n_experts` experts on the easy-to-hard
curriculum and writes models/experts/<dataset>/ (see src/distill/experts.py for the layout).
A killed run resumes with the next unfinished expert (--no-resume starts over).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from src.ui import cli_errors, say

app = typer.Typer(add_completion=False, help=__doc__.splitlines()[0])
EXPERTS = Path("models/experts")


def pool_indices(labels, per_class: int | None, num_classes: int, seed: int):
    """Train-split indices the experts learn from: all, or `per_class` random ones of each class."""
    import torch

    from src.distill.curriculum import rank_within_class
    from src.runtime import generator

    if per_class is None:
        return torch.arange(len(labels))
    keys = torch.rand(len(labels), generator=generator(seed, "cpu", "expert-pool"))
    rank, _ = rank_within_class(keys, labels, num_classes)
    return torch.nonzero(rank < per_class).flatten()


def run_experts(dataset: str, params_path: Path = Path("params.yaml"), resume: bool = True, out: Path | None = None) -> Path:
    import torch

    from src import tracking
    from src.config import load_params
    from src.data import store
    from src.distill import difficulty
    from src.distill import experts as ex
    from src.distill.synthetic import params_hash
    from src.errors import UserError
    from src.models.registry import describe
    from src.runtime import configure_threads, pick_device
    from src.train import accuracy
    from src.ui import progress

    configure_threads()
    params = load_params(params_path)
    if dataset not in params.datasets:
        raise UserError(f"experts: dataset {dataset!r} is not in `datasets` {list(params.datasets)}")
    spec = params.experts[dataset]
    device = pick_device(params.device)
    ds = store.load(dataset)
    root = out if out is not None else EXPERTS / dataset
    root.mkdir(parents=True, exist_ok=True)
    settings = {"experts": spec.model_dump(), "seed": params.seed, "dataset": dataset}
    key = params_hash(settings)
    manifest = ex.resumable_manifest(root, key) if resume else None
    names, shapes = ex.param_layout(spec.model, ds.channels, ds.num_classes, ds.im_size)
    pool = pool_indices(ds.train.y, spec.pool_per_class, ds.num_classes, params.seed)
    x = ds.normalize(ds.train.x[pool].to(device))
    y = ds.train.y[pool].to(device)
    t0 = time.perf_counter()
    with tracking.run("experts", f"experts-{dataset}", {**settings, "preset": params.preset, "device": str(device),
                      "pool_size": len(pool)}, inputs=[store.PROCESSED / dataset / "data.safetensors"],
                      tags={"dataset": dataset, "method": "pad"}) as log:
        if manifest is None:
            for stale in root.glob("*.safetensors"):
                stale.unlink()
            scores = difficulty.scores(x, y, spec, ds.num_classes, params.seed, progress)
            md5 = ex.save_difficulty(root / "difficulty.safetensors", pool, scores)
            manifest = {"format": ex.FORMAT, "dataset": dataset, "seed": params.seed, "key": key,
                        "model": spec.model.model_dump(), "model_name": describe(spec.model), "param_names": names,
                        "param_shapes": shapes, "n_params": sum(int(torch.tensor(s).prod()) for s in shapes),
                        "lr_teacher": spec.lr_teacher, "epochs_saved": min(spec.keep_epochs, spec.epochs),
                        "dtype": "float16" if spec.fp16 else "float32", "pool_size": len(pool),
                        "difficulty": {"file": "difficulty.safetensors", "md5": md5}, "experts": [],
                        **tracking.git_state()}
            ex.write_manifest(root, manifest)
            log.metrics({"el2n_mean": float(scores.mean()), "difficulty_seconds": time.perf_counter() - t0})
        else:
            _, scores = ex.Experts(root, manifest).difficulty()
            say(f"  resuming: difficulty and {len(manifest['experts'])} of {spec.n_experts} experts already done")
        scores = scores.to(device)
        for i in range(len(manifest["experts"]), spec.n_experts):
            t1 = time.perf_counter()
            traj, net = ex.train_expert(x, y, scores, spec, ds.num_classes, params.seed, i, progress)
            fname = f"expert_{i:03d}.safetensors"
            md5 = ex.save_trajectory(root / fname, traj, spec.fp16)
            val = accuracy(net, ds.val, ds, device)[0] if len(ds.val) else float("nan")
            manifest["experts"].append({"file": fname, "md5": md5, "val_acc": val, "seconds": time.perf_counter() - t1})
            ex.write_manifest(root, manifest)
            log.metrics({"expert_val_acc": val, "expert_seconds": time.perf_counter() - t1}, step=i)
        manifest["seconds"] = time.perf_counter() - t0
        ex.write_manifest(root, manifest)
        log.artifact(root / "manifest.json")
    accs = [e["val_acc"] for e in manifest["experts"]]
    say(f"experts {dataset}: {len(accs)} experts x {manifest['epochs_saved']} epochs on {len(pool)} images, "
        f"val acc {sum(accs) / len(accs):.2f}% (mean), {manifest['seconds']:.0f}s -> {root}")
    return root


@app.command()
@cli_errors
def main(dataset: str = typer.Argument(..., help="mnist or mhist"),
         params: Path = typer.Option(Path("params.yaml"), help="params file"),
         resume: bool = typer.Option(True, help="continue an interrupted run with the next unfinished expert"),
         out: Optional[Path] = typer.Option(None, help="output directory (default: models/experts/<dataset>)")) -> None:
    """Score the training data (EL2N) and train PAD's expert trajectories."""
    run_experts(dataset, params, resume, out)


if __name__ == "__main__":
    app()
