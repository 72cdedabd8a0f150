"""Stages `nas-full@<dataset>` and `nas@<dataset>-<proxy>`: Optuna search over ConvNet architectures under one proxy.

    python -m src.nas --proxy synthetic --dataset mnist
    python -m src.nas --proxy full --dataset mnist --storage postgresql://user@host/db   # shared by workers

Scores every candidate on the real validation split; retrains the chosen architecture on full
data and reports its test accuracy. Results: reports/nas/<dataset>_<proxy>.json. The study lives
in reports/nas/<dataset>_studies.db unless --storage names another Optuna RDB URL; an interrupted
study resumes where it stopped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from src.nas import STALE_S
from src.ui import cli_errors, say

app = typer.Typer(add_completion=False, help=__doc__.splitlines()[0])


def search(dataset: str, proxy: str, params_path: Path = Path("params.yaml"), distilled: Optional[str] = None,
           trials: Optional[int] = None, sampler: str = "grid", storage: Optional[str] = None, seed: Optional[int] = None,
           epochs: Optional[int] = None, final: bool = True, stale_after: float = STALE_S) -> dict:
    import time

    from src import tracking
    from src.config import ModelSpec, load_params
    from src.data import store
    from src.data.fsutil import write_json
    from src.errors import UserError
    from src.models.convnet import max_depth
    from src.models.registry import describe
    from src.nas import NAS_DIR
    from src.nas import study as st
    from src.nas.space import arch_key, choices, grid
    from src.runtime import configure_threads, device_info, pick_device, seeded

    configure_threads()
    params = load_params(params_path)
    if dataset not in params.nas:
        raise UserError(f"nas: no settings for dataset {dataset!r} in params.yaml")
    if sampler not in ("grid", "tpe"):
        raise UserError(f"--sampler: {sampler!r} is not one of grid, tpe")
    if not stale_after > 0:
        raise UserError(f"--stale-after: {stale_after} is not a positive number of seconds")
    cfg = params.nas[dataset]
    updates = {k: v for k, v in {"distilled": distilled}.items() if v is not None}
    if epochs is not None:
        key = "full" if proxy == "full" else "proxy"
        updates[key] = getattr(cfg, key).model_copy(update={"epochs": epochs})
    cfg = cfg.model_copy(update=updates)
    seed = params.seed if seed is None else seed
    device = pick_device(params.device)
    ds = store.load(dataset)
    data = st.proxy_data(ds, dataset, proxy, cfg, seed)
    specs = grid(cfg.space, ds.im_size[0])
    space = choices(cfg.space, ds.im_size[0])
    points = [{k: getattr(s, k) for k in space} for s in specs]
    code = st.code_hash()
    name = st.study_name(dataset, proxy, data.name, cfg, seed, sampler, data.fingerprint, device.type, code)
    storage = storage or st.default_storage(dataset)
    say(f"nas {dataset}/{proxy}: {len(specs)} architectures x {cfg.seeds} seeds on {data.name} "
        f"({len(data.y)} images, {data.budget_epochs} epochs each); study {name}")
    with tracking.run("nas", f"nas-{dataset}-{proxy}", {"dataset": dataset, "proxy": proxy, "data": data.name,
                      "nas": cfg.model_dump(), "seed": seed, "sampler": sampler, "study": name, "preset": params.preset},
                      inputs=data.inputs, tags={"dataset": dataset, "proxy": proxy}) as parent:
        study = st.open_study(name, storage, space, sampler, seed, points)

        def objective(trial) -> float:
            import optuna

            spec = ModelSpec(name="convnet", **{k: trial.suggest_categorical(k, v) for k, v in space.items()})
            if spec.depth > max_depth(ds.im_size[0], spec.pool):  # only TPE can propose these
                raise optuna.TrialPruned(f"{arch_key(spec)} shrinks the input below 1x1")
            with tracking.run("nas-trial", f"{proxy}-{arch_key(spec)}", {"arch": spec.model_dump(), "trial": trial.number},
                              nested=True, tags={"dataset": dataset, "proxy": proxy}) as child:
                def on_eval(epoch: int, accs: list[float]) -> None:
                    mean = sum(accs) / len(accs)
                    child.metrics({"val_acc": mean}, step=epoch)
                    trial.report(mean, epoch)
                    if sampler == "tpe" and trial.should_prune():
                        raise optuna.TrialPruned()

                res = st.score_candidate(spec, data, ds, cfg.seeds, seed, device, on_eval, cfg.eval_points, cfg.curve_images)
                child.metrics({"val_acc_final": res["val_mean"], "val_acc_std": res["val_std"], "seconds": res["seconds"],
                               "n_params": res["params"]})
            for k, v in {"arch": arch_key(spec), "val_accs": res["val_accs"], "val_mean": res["val_mean"],
                         "val_std": res["val_std"], "seconds": res["seconds"], "n_params": res["params"],
                         "mlflow_run_id": child.run_id, "curve": res["curve"]}.items():
                trial.set_user_attr(k, v)
            say(f"  {arch_key(spec)}: val {res['val_mean']:.2f} ± {res['val_std']:.2f}% in {res['seconds']:.1f}s")
            return res["val_mean"]

        t0 = time.perf_counter()
        st.run_worker(study, objective, sampler, trials, stale_s=stale_after)
        wall = time.perf_counter() - t0
        results = st.collect(study)
        if not results:
            raise UserError(f"study {name}: no completed trial")
        missing = [] if sampler == "tpe" else sorted({arch_key(s) for s in specs} - set(results))
        if missing:  # stopped by --trials
            say(f"nas {dataset}/{proxy}: {len(missing)} of {len(specs)} architectures not yet scored "
                f"(rerun the same command to finish the study): {', '.join(missing)}")
        best_key = max(results, key=lambda k: results[k]["val_mean"])
        best = ModelSpec(name="convnet", **results[best_key]["params"])
        out = {"dataset": dataset, "proxy": proxy, "data": data.name, "n_images": len(data.y), "study": name, "code": code,
               "sampler": sampler, "n_archs": len(results), "grid_size": len(specs), "missing": missing, "seeds": cfg.seeds,
               "budget_epochs": data.budget_epochs, "search_seconds": sum(r["seconds"] for r in results.values()),
               "worker_wall_seconds": wall, "best": best_key, "best_val": results[best_key]["val_mean"],
               **device_info(device), "preset": params.preset, "results": results}
        if final:
            from src.train import accuracy, fit

            with seeded(seed, "nas-final", best_key):
                from src.models.registry import build

                model = build(best, ds.channels, ds.num_classes, ds.im_size)
            # the baseline's full-data recipe (lr, batch, compile, bf16) for the NAS's final_epochs
            recipe = getattr(params.baseline, dataset).model_copy(update={"model": best, "epochs": cfg.final_epochs})
            fit(model, ds, recipe, seed, device)
            out["final_test_acc"] = accuracy(model, ds.test, ds, device)[0]
            out["final_model"] = describe(best)
        parent.metrics({k: out[k] for k in ("best_val", "search_seconds", "n_archs") if k in out})
        if "final_test_acc" in out:
            parent.metrics({"final_test_acc": out["final_test_acc"]})
        path = NAS_DIR / f"{dataset}_{proxy}.json"
        write_json(path, out)
        parent.artifact(path)
    say(f"nas {dataset}/{proxy}: best {best_key} (val {out['best_val']:.2f}%"
        + (f", retrained test {out['final_test_acc']:.2f}%" if final else "") + f"), search {out['search_seconds']:.0f}s -> {path}")
    return out


@app.command()
@cli_errors
def main(proxy: str = typer.Option(..., help="synthetic, full or random"),
         dataset: str = typer.Option("mnist", help="mnist or mhist"),
         distilled: Optional[str] = typer.Option(None, help="distilled set for --proxy synthetic/random, e.g. datadam_ipc10_real"),
         trials: Optional[int] = typer.Option(None, help="stop after this many trials (default: the whole grid)"),
         sampler: str = typer.Option("grid", help="grid (the ranking study) or tpe (a budgeted search, may prune)"),
         storage: Optional[str] = typer.Option(None, help="Optuna storage URL (default sqlite under reports/nas/)"),
         seed: Optional[int] = typer.Option(None, help="seed (default: params.yaml)"),
         epochs: Optional[int] = typer.Option(None, help="training epochs per candidate (default: params.yaml)"),
         final: bool = typer.Option(True, help="retrain the chosen architecture on full data and test it"),
         stale_after: float = typer.Option(STALE_S, help="seconds without a heartbeat after which a worker takes over "
                                           "another's RUNNING trial as killed; keep it well above the clock skew "
                                           "between machines sharing a study"),
         params: Path = typer.Option(Path("params.yaml"), help="params file")) -> None:
    """Search ConvNet architectures under one proxy."""
    search(dataset, proxy, params, distilled, trials, sampler, storage, seed, epochs, final, stale_after)


if __name__ == "__main__":
    app()
