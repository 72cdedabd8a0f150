"""Stage `experts@<dataset>`: PAD's difficulty scores and expert trajectories.

    python -m src.experts mnist

Scores every pool sample with EL2N, then trains `n_experts` experts on the easy-to-hard
curriculum and writes models/experts/<dataset>/ (see src/distill/experts.py for the layout).
A killed run resumes with the unfinished experts (--no-resume starts over).

The experts are independent (each seeded by its index), so `--workers W` trains them in W
processes; the manifest is written by this process alone, as each expert lands. On the CPU the
bytes depend on the torch threads per process (a reduction split over more threads sums in
another order), not on W: every process uses `--threads` (default: as many as a single process
would), recorded per expert in the manifest, and tests/test_experts.py checks that W = 1 and
W = 2 write the same files.
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


def train_one(index: int, x, y, scores, spec, ds, seed: int, root: Path,
              progress=lambda it, **kw: it) -> tuple[int, dict]:
    """Train expert `index`, write its trajectory and return (index, its manifest entry)."""
    import torch

    from src.distill import experts as ex
    from src.train import accuracy

    t1 = time.perf_counter()
    traj, net = ex.train_expert(x, y, scores, spec, ds.num_classes, seed, index, progress)
    fname = ex.expert_file(index)
    md5 = ex.save_trajectory(root / fname, traj, spec.fp16)
    val = accuracy(net, ds.val, ds, x.device)[0] if len(ds.val) else float("nan")
    return index, {"file": fname, "md5": md5, "val_acc": val, "seconds": time.perf_counter() - t1,
                   "threads": torch.get_num_threads()}


def _worker_task(job: tuple) -> tuple[int, dict]:
    """One expert in a worker process: everything it needs is rebuilt from the files the parent
    wrote (params, the packed dataset, the difficulty scores), not sent over the pipe."""
    import torch

    from src.config import load_params
    from src.data import store
    from src.distill import experts as ex
    from src.runtime import pick_device

    dataset, params_path, root, index, threads = job
    torch.set_num_threads(threads)
    params = load_params(params_path)
    spec, device, ds = params.experts[dataset], pick_device(params.device), store.load(dataset)
    pool, scores = ex.read_difficulty(root / "difficulty.safetensors")
    x, y = ds.normalize(ds.train.x[pool].to(device)), ds.train.y[pool].to(device)
    return train_one(index, x, y, scores.to(device), spec, ds, params.seed, root)


def in_workers(jobs: list[tuple], workers: int):
    """Yield _worker_task's results as they finish, from `workers` spawned processes (spawn: a
    forked child would inherit this process's torch threads and, on a GPU, its CUDA context)."""
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(workers) as pool:
        yield from pool.imap_unordered(_worker_task, jobs)


def run_experts(dataset: str, params_path: Path = Path("params.yaml"), resume: bool = True, out: Path | None = None,
                workers: int = 1, threads: int | None = None) -> Path:
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
    from src.ui import progress

    if workers < 1:
        raise UserError(f"--workers: {workers} is not a positive number of processes")
    if threads is not None and threads < 1:
        raise UserError(f"--threads: {threads} is not a positive number of threads")
    configure_threads()
    if threads is not None:
        torch.set_num_threads(threads)
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
                        **tracking.git_state(), "environment": tracking.environment()}
            ex.write_manifest(root, manifest)
            log.metrics({"el2n_mean": float(scores.mean()), "difficulty_seconds": time.perf_counter() - t0})
        else:
            _, scores = ex.read_difficulty(root / manifest["difficulty"]["file"])
            say(f"  resuming: difficulty and {len(manifest['experts'])} of {spec.n_experts} experts already done")
        scores = scores.to(device)
        have = {e["file"] for e in manifest["experts"]}
        todo = [i for i in range(spec.n_experts) if ex.expert_file(i) not in have]
        if workers == 1 or len(todo) < 2:
            results = (train_one(i, x, y, scores, spec, ds, params.seed, root, progress) for i in todo)
        else:
            say(f"  {len(todo)} experts in {min(workers, len(todo))} processes, {torch.get_num_threads()} threads each")
            jobs = [(dataset, params_path, root, i, torch.get_num_threads()) for i in todo]
            results = progress(in_workers(jobs, min(workers, len(todo))), desc="experts", total=len(todo))
        for i, entry in results:  # the manifest lists finished experts in index order, whatever order they finish in
            manifest["experts"] = sorted([*manifest["experts"], entry], key=lambda e: e["file"])
            ex.write_manifest(root, manifest)
            log.metrics({"expert_val_acc": entry["val_acc"], "expert_seconds": entry["seconds"]}, step=i)
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
         out: Optional[Path] = typer.Option(None, help="output directory (default: models/experts/<dataset>)"),
         workers: int = typer.Option(1, help="processes training experts side by side (the files do not depend on it)"),
         threads: Optional[int] = typer.Option(None, help="torch threads per process (default: every core, as in "
                                               "one process; on the CPU the files depend on it)")) -> None:
    """Score the training data (EL2N) and train PAD's expert trajectories."""
    run_experts(dataset, params, resume, out, workers, threads)


if __name__ == "__main__":
    app()
