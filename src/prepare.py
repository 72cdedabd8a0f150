"""Stage `prepare@<dataset>`: fetch and verify raw files, pack them into tensors with a fixed split.

    python -m src.prepare mnist [--source-dir DIR] [--no-verify]

Raw files land in data/raw/<dataset>/ and the packed store in data/processed/<dataset>/
(both DVC outputs). On any error nothing partial is left behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from src.ui import cli_errors, say

RAW, PROCESSED = Path("data/raw"), Path("data/processed")
app = typer.Typer(add_completion=False, help=__doc__.splitlines()[0])


def prepare(dataset: str, params_path: Path = Path("params.yaml"), source_dir: Optional[Path] = None,
            verify: bool = True) -> Path:
    import numpy as np

    from src import tracking
    from src.config import load_params
    from src.data import mhist, mnist, store
    from src.data.fsutil import atomic_dir
    from src.errors import UserError
    from src.runtime import derive_seed

    params = load_params(params_path)
    raw = RAW / dataset
    if dataset == "mnist":
        mnist.fetch(raw, source_dir, verify_md5=verify)
        arrays = mnist.load(raw)
        arrays = {k: (v[:, None] if k.endswith("_x") else v) for k, v in arrays.items()}  # add channel axis
        classes = tuple(str(i) for i in range(10))
        n_val = params.prepare.mnist.val_size
        extra = {"resolution": 28}
    elif dataset == "mhist":
        mhist.fetch(raw, source_dir)
        res = params.prepare.mhist.resolution
        arrays = mhist.load(raw, resolution=res, strict=verify)
        classes = ("HP", "SSA")
        n_val = int(round(len(arrays["train_y"]) * params.prepare.mhist.val_fraction))
        extra = {"resolution": res}
    else:
        raise UserError(f"dataset: {dataset!r} is not one of mnist, mhist")

    n_train = len(arrays["train_y"])
    if n_val >= n_train:
        raise UserError(f"prepare.{dataset}: validation split of {n_val} leaves no training images (have {n_train})")
    tr, va = store.split_train_val(n_train, n_val, derive_seed(params.seed, "val-split", dataset))
    packed = {}
    for key in [k for k in arrays if k.startswith("train_")]:
        field = key[len("train_"):]
        packed[f"train_{field}"] = arrays[key][tr]
        packed[f"val_{field}"] = arrays[key][va]
    packed.update({k: v for k, v in arrays.items() if k.startswith("test_")})
    out_dir = PROCESSED / dataset
    with tracking.run("prepare", f"prepare-{dataset}", {"dataset": dataset, "seed": params.seed,
                                                          "prepare": params.prepare.model_dump()[dataset]},
                      inputs=[raw]) as tr_log:
        with atomic_dir(out_dir) as tmp:
            store.save(tmp / "data.safetensors", dataset, classes, packed, extra)
        counts = {f"n_{s}": int(len(packed[f"{s}_y"])) for s in ("train", "val", "test")}
        tr_log.metrics({**counts, **{f"n_train_class_{c}": int(n) for c, n in
                                     enumerate(np.bincount(packed["train_y"], minlength=len(classes)))}})
    say(f"prepare {dataset}: train {counts['n_train']}, val {counts['n_val']}, test {counts['n_test']} "
        f"-> {out_dir / 'data.safetensors'}")
    if dataset == "mnist" and "mhist" not in params.datasets:
        say(f"note: {mhist.HINT}")
    return out_dir


@app.command()
@cli_errors
def main(dataset: str = typer.Argument(..., help="mnist or mhist"),
         params: Path = typer.Option(Path("params.yaml"), help="params file"),
         source_dir: Optional[Path] = typer.Option(None, help="local directory with the raw files "
                                                   "(else $DD_MNIST_DIR / $DD_MHIST_DIR, else the public mirrors)"),
         no_verify: bool = typer.Option(False, "--no-verify", help="skip published checksums and the MHIST row "
                                        "count, to feed another dataset in the same layout")) -> None:
    """Fetch, verify and pack one dataset."""
    prepare(dataset, params, source_dir, verify=not no_verify)


if __name__ == "__main__":
    app()
