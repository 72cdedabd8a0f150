"""Stage `baseline@<dataset>`: the full-data upper bound (ConvNet-3 on MNIST, ConvNet-7 on MHIST).

    python -m src.baseline mnist

Writes models/baseline/<dataset>.safetensors and reports/metrics/<dataset>/baseline.json
(test accuracy of the final iterate, training wall time, MACs per image, parameter count).
"""

from __future__ import annotations

from pathlib import Path

import typer

from src.ui import cli_errors, say

app = typer.Typer(add_completion=False, help=__doc__.splitlines()[0])


def baseline(dataset: str, params_path: Path = Path("params.yaml")) -> dict:
    from safetensors.torch import save_file

    from src import tracking
    from src.config import load_params
    from src.data import store
    from src.data.fsutil import atomic_file, write_json
    from src.models.registry import build, complexity, describe
    from src.protocol import classification_metrics
    from src.runtime import configure_threads, device_info, pick_device, seeded
    from src.train import accuracy, fit

    configure_threads()
    params = load_params(params_path)
    spec = getattr(params.baseline, dataset)
    device = pick_device(params.device)
    ds = store.load(dataset)
    with seeded(params.seed, "baseline-init", dataset):
        model = build(spec.model, ds.channels, ds.num_classes, ds.im_size)
    size = complexity(model, ds.channels, ds.im_size)
    data_file = store.PROCESSED / dataset / "data.safetensors"
    with tracking.run("baseline", f"baseline-{dataset}", {"dataset": dataset, "seed": params.seed,
                      "preset": params.preset, "device": str(device), "baseline": spec.model_dump()},
                      inputs=[data_file], tags={"dataset": dataset}) as log:
        def on_epoch(epoch: int, row: dict) -> None:
            log.metrics(row, step=epoch)
            say(f"  epoch {epoch + 1}/{spec.epochs}: loss {row['train_loss']:.4f}, val {row.get('val_acc', float('nan')):.2f}%, "
                f"{row['elapsed_s']:.0f}s")

        result = fit(model, ds, spec, params.seed, device, on_epoch=on_epoch)
        _, logits = accuracy(model, ds.test, ds, device)  # the final iterate, tested once
        test = classification_metrics(logits.unsqueeze(0).cpu(), ds.test.y, ds.num_classes)
        metrics = {
            "dataset": dataset, "model": describe(spec.model), "test_acc": test["acc"][0],
            "train_seconds": result["train_seconds"], "epochs": spec.epochs, "train_images": len(ds.train),
            "macs_per_image": size["macs"], "params": size["params"], **device_info(device),
            "preset": params.preset, "seed": params.seed,
        }
        if dataset == "mhist":
            metrics.update(balanced_acc=test["balanced_acc"][0], auc=test["auc"][0])
        log.metrics({k: v for k, v in metrics.items() if isinstance(v, (int, float)) and k != "seed"})
        weights = Path("models/baseline") / f"{dataset}.safetensors"
        with atomic_file(weights) as tmp:
            state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
            save_file(state, str(tmp), metadata={"spec": spec.model.model_dump_json(), "dataset": dataset})
        out = Path("reports/metrics") / dataset / "baseline.json"
        write_json(out, metrics)
        log.artifact(out)
    say(f"baseline {dataset}: {metrics['model']} test accuracy {metrics['test_acc']:.2f}% in "
        f"{metrics['train_seconds']:.0f}s on {device} -> {out}, {weights}")
    return metrics


@app.command()
@cli_errors
def main(dataset: str = typer.Argument(..., help="mnist or mhist"),
         params: Path = typer.Option(Path("params.yaml"), help="params file")) -> None:
    """Train the full-data baseline and record its test accuracy."""
    baseline(dataset, params)


if __name__ == "__main__":
    app()
