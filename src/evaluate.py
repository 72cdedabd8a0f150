"""Stage `evaluate@<run>` and `random@<dataset>-ipc<N>`: the synthetic-set protocol on a distilled
set and on a random real subset of the same size.

    python -m src.evaluate distilled mnist-datadam-ipc10-real
    python -m src.evaluate random mnist 10
    python -m src.evaluate file path/to/any_set.safetensors [--out metrics.json]   (not a stage)

Metrics (reports/metrics/<dataset>/<name>.json): acc_mean, acc_std, n_models, accs (per model),
random_acc_mean (random real subset of equal size), balanced_acc and auc for MHIST, the
cross-architecture results, seconds, device, preset. Every number is the final iterate of
freshly trained networks, tested once on the real test split.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from src.ui import cli_errors, say

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.splitlines()[0])
METRICS = Path("reports/metrics")


def _protocol(spec):
    from src.protocol import Protocol

    if spec.lr_ipc:  # a programming error, not a user's: the lr would silently ignore the set's size
        raise ValueError("evaluate spec with lr_ipc: resolve it with spec.at_ipc(ipc) before building the protocol")

    return Protocol(epochs=spec.epochs, batch_size=spec.batch_size, lr=spec.lr, momentum=spec.momentum,
                    weight_decay=spec.weight_decay, dsa_strategy=spec.dsa_strategy if spec.dsa else "none",
                    compile=spec.compile, amp_cpu=spec.amp_cpu)


def _summary(result, prefix: str = "") -> dict:
    import numpy as np

    out = {f"{prefix}acc_mean": float(np.mean(result.accs)), f"{prefix}acc_std": float(np.std(result.accs)),
           f"{prefix}n_models": len(result.accs), f"{prefix}accs": [round(a, 3) for a in result.accs]}
    if result.aucs is not None:
        out.update({f"{prefix}balanced_acc": float(np.mean(result.balanced_accs)),
                    f"{prefix}balanced_acc_std": float(np.std(result.balanced_accs)),
                    f"{prefix}auc": float(np.mean(result.aucs)), f"{prefix}auc_std": float(np.std(result.aucs)),
                    f"{prefix}balanced_accs": [round(a, 3) for a in result.balanced_accs],
                    f"{prefix}aucs": [round(a, 4) for a in result.aucs]})
    return out


def set_lr(syn) -> float | None:
    """The learning rate a set is evaluated at: the one stored in it (PAD with eval_lr: learned
    stores the student lr it learned, as PAD/MTT evaluate), else None: the protocol's lr, like
    every other set. The rule for storing it lives in one place, src/distill/__main__.py."""
    return None if syn.lr is None else float(syn.lr)


def evaluate_random(dataset: str, ipc: int, params_path: Path = Path("params.yaml")) -> dict:
    """The anchor every distilled set must beat: ipc random real training images per class."""
    from src import tracking
    from src.config import load_params
    from src.data import store
    from src.data.fsutil import write_json
    from src.models.registry import describe
    from src.protocol import anchor_subset, evaluate_set
    from src.runtime import configure_threads, device_info, pick_device

    configure_threads()
    params = load_params(params_path)
    spec = params.evaluate.at(dataset, ipc)
    device = pick_device(params.device)
    ds = store.load(dataset)
    idx = anchor_subset(ds.train.y, ipc, ds.num_classes, params.seed, dataset)
    name = f"random_ipc{ipc}"
    with tracking.run("random", f"random-{dataset}-ipc{ipc}", {"dataset": dataset, "ipc": ipc, "seed": params.seed,
                      "evaluate": spec.model_dump(), "preset": params.preset},
                      inputs=[store.PROCESSED / dataset / "data.safetensors"], tags={"dataset": dataset}) as log:
        r = evaluate_set(ds.normalize(ds.train.x[idx]), ds.train.y[idx], ds.test.x, ds.test.y, ds.normalize, spec.model,
                         ds.num_classes, _protocol(spec), spec.n_models, params.seed, device)
        metrics = {"dataset": dataset, "method": "random", "ipc": ipc, "model": describe(spec.model), **_summary(r),
                   "eval_lr": spec.lr, "seconds": r.seconds, **device_info(device), "preset": params.preset}
        log.metrics({k: v for k, v in metrics.items() if isinstance(v, float)})
        out = METRICS / dataset / f"{name}.json"
        write_json(out, metrics)
    say(f"random {dataset} ipc {ipc}: {metrics['acc_mean']:.2f} ± {metrics['acc_std']:.2f}% over "
        f"{metrics['n_models']} models -> {out}")
    return metrics


def score_set(syn, path: Path, ds, spec, seed: int, device, rand: dict | None, log) -> dict:
    """The protocol on one loaded set, with its cross-architecture runs: the metrics every
    evaluation writes (the caller adds what names the set, and the preset)."""
    from src.models.registry import describe
    from src.protocol import evaluate_set
    from src.runtime import device_info

    lr = set_lr(syn)
    r = evaluate_set(syn.images, syn.labels, ds.test.x, ds.test.y, ds.normalize, spec.model, ds.num_classes,
                     _protocol(spec), spec.n_models, seed, device, lr=lr)
    metrics = {"model": describe(spec.model), **_summary(r)}
    if rand is not None:
        metrics.update(random_acc_mean=rand["acc_mean"], random_acc_std=rand["acc_std"],
                       gain_over_random=float(sum(r.accs) / len(r.accs) - rand["acc_mean"]))
    metrics.update(distilled_file=str(path), content_hash=syn.meta["content_hash"],
                   labels="soft" if syn.soft else "hard", learned_lr=lr, eval_lr=spec.lr if lr is None else lr)
    cross = {}
    for cspec in spec.cross_models:
        cr = evaluate_set(syn.images, syn.labels, ds.test.x, ds.test.y, ds.normalize, cspec, ds.num_classes,
                          _protocol(spec), spec.cross_n_models, seed, device, lr=lr)
        cross[cspec.name] = {"model": describe(cspec), **_summary(cr)}
        log.metrics({f"cross_{cspec.name}_acc_mean": cross[cspec.name]["acc_mean"]})
    metrics.update(cross=cross, seconds=r.seconds, **device_info(device))
    return metrics


def evaluate_distilled(name: str, params_path: Path = Path("params.yaml")) -> dict:
    from src import tracking
    from src.config import find_run, load_params
    from src.data import store
    from src.data.fsutil import read_json, write_json
    from src.distill import synthetic
    from src.errors import UserError
    from src.runtime import configure_threads, pick_device

    configure_threads()
    params = load_params(params_path)
    run = find_run(params, name)
    spec = params.evaluate.at(run.dataset, run.ipc)
    device = pick_device(params.device)
    ds = store.load(run.dataset)
    path = Path("data/distilled") / run.dataset / f"{run.name}.safetensors"
    syn = synthetic.load_for(path, ds)
    random_file = METRICS / run.dataset / f"random_ipc{run.ipc}.json"
    if not random_file.is_file():
        raise UserError(f"{random_file}: missing; run `dvc repro random@{run.dataset}-ipc{run.ipc}` first")
    rand = read_json(random_file)
    with tracking.run("evaluate", f"evaluate-{name}", {"run": run.model_dump(), "evaluate": spec.model_dump(),
                      "seed": params.seed, "preset": params.preset, "device": str(device)},
                      inputs=[path, store.PROCESSED / run.dataset / "data.safetensors", random_file],
                      tags={"dataset": run.dataset, "method": run.method}) as log:
        metrics = {"dataset": run.dataset, "method": run.method, "ipc": run.ipc, "init": run.init,
                   **score_set(syn, path, ds, spec, params.seed, device, rand, log), "preset": params.preset}
        log.metrics({k: v for k, v in metrics.items() if isinstance(v, float)})
        out = METRICS / run.dataset / f"{run.name}.json"
        write_json(out, metrics)
        log.artifact(out)
    say(f"evaluate {name}: {metrics['acc_mean']:.2f} ± {metrics['acc_std']:.2f}% (random real "
        f"{rand['acc_mean']:.2f}%, {metrics['gain_over_random']:+.2f}) -> {out}")
    return metrics


def evaluate_file(path: Path, params_path: Path = Path("params.yaml"), out: Path | None = None,
                  n_models: int | None = None) -> dict:
    """Any distilled set file (one fetched with `dvc pull`, or received), under this checkout's
    protocol for the dataset the set names. Not a pipeline stage: it writes only `out`. The random
    anchor of the same size is added when this checkout's pipeline has scored one under the same preset."""
    from typing import get_args

    from src import tracking
    from src.config import Dataset, load_params
    from src.data import store
    from src.data.fsutil import read_json, write_json
    from src.distill import synthetic
    from src.errors import DataError, UserError
    from src.runtime import configure_threads, pick_device

    if n_models is not None and n_models < 1:
        raise UserError(f"--n-models: {n_models} is not a positive number of networks")
    configure_threads()
    params = load_params(params_path)
    syn = synthetic.load(path)
    dataset = syn.meta.get("dataset")
    if dataset not in get_args(Dataset):
        raise DataError(f"{path}: made for dataset {dataset!r}, expected one of {list(get_args(Dataset))}")
    spec = getattr(params.evaluate, dataset)
    if n_models is not None:
        spec = spec.model_copy(update={"n_models": n_models})
    device = pick_device(params.device)
    ds = store.load(dataset)
    syn = synthetic.check_fit(path, syn, ds)
    ipc, extra = divmod(len(syn.images), ds.num_classes)
    spec = spec.at_ipc(ipc)
    random_file = METRICS / dataset / f"random_ipc{ipc}.json"
    rand = read_json(random_file) if random_file.is_file() and not extra else None
    if rand is not None and rand.get("preset") != params.preset:
        rand = None  # scored under another protocol: no fair anchor
    inputs = [path, store.PROCESSED / dataset / "data.safetensors", *([random_file] if rand else [])]
    meta = syn.meta
    with tracking.run("evaluate", f"evaluate-file-{path.stem}", {"file": str(path), "evaluate": spec.model_dump(),
                      "seed": params.seed, "preset": params.preset, "device": str(device)}, inputs=inputs,
                      tags={"dataset": dataset, "method": str(meta.get("method"))}) as log:
        metrics = {"dataset": dataset, "method": meta.get("method"), "ipc": meta.get("ipc"), "init": meta.get("init"),
                   **score_set(syn, path, ds, spec, params.seed, device, rand, log), "preset": params.preset}
        log.metrics({k: v for k, v in metrics.items() if isinstance(v, float)})
        if out is not None:
            write_json(out, metrics)
            log.artifact(out)
    anchor = (f" (random real {rand['acc_mean']:.2f}%, {metrics['gain_over_random']:+.2f})" if rand
              else f" (no random anchor: {random_file} absent or under another preset)")
    say(f"evaluate {path}: {metrics['acc_mean']:.2f} ± {metrics['acc_std']:.2f}% over {metrics['n_models']} "
        f"{metrics['model']} networks{anchor}" + (f" -> {out}" if out else ""))
    return metrics


@app.command("distilled")
@cli_errors
def distilled_cmd(run: str = typer.Argument(..., help="a key of `runs` in params.yaml"),
                  params: Path = typer.Option(Path("params.yaml"), help="params file")) -> None:
    """Evaluate a distilled set with the synthetic-set protocol."""
    evaluate_distilled(run, params)


@app.command("file")
@cli_errors
def file_cmd(path: Path = typer.Argument(..., help="a distilled set (.safetensors), e.g. one fetched with dvc pull"),
             params: Path = typer.Option(Path("params.yaml"), help="params file (its evaluate.<dataset> protocol)"),
             n_models: Optional[int] = typer.Option(None, help="evaluation networks (default: evaluate.<dataset>.n_models)"),
             out: Optional[Path] = typer.Option(None, help="also write the metrics JSON here")) -> None:
    """Evaluate any distilled set file with this checkout's protocol for its dataset (not a stage)."""
    evaluate_file(path, params, out, n_models)


@app.command("random")
@cli_errors
def random_cmd(dataset: str = typer.Argument(..., help="mnist or mhist"),
               ipc: int = typer.Argument(..., help="images per class"),
               params: Path = typer.Option(Path("params.yaml"), help="params file")) -> None:
    """Evaluate a random real subset of ipc images per class (the anchor distillation must beat)."""
    evaluate_random(dataset, ipc, params)


if __name__ == "__main__":
    app()
