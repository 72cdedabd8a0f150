"""Does a better starting set help DataDAM? Herding-selected real images as the init, on the validation split.

    python benchmarks/datadam_init_probe.py --preset paper --ipc 1 --models 5 --iterations 3000

Herding (Welling 2009) in normalised pixel space, per class: the first image is the one nearest the
class mean, each next one brings the running mean of the chosen images closest to the class mean.
Prints one JSON line scoring the herded images alone (no distillation), then, unless --no-distill,
one for DataDAM started from them (the preset's settings, `--iterations` of them) instead of from
random real images; compare with datadam_sweep.py rows at the same settings. The init is not a
pipeline option (`init:` in params is real | noise): this probe is what decides whether it should be.
Session 13, paper preset, ipc 1, 3,000 iterations: herded images alone 77.47 % (random real 59 %),
distilled from them 89.36 % against 89.18 % from random real ones: DataDAM forgets its start.
Session 14, ipc 10, 1,500 iterations: alone 95.87 %, distilled 96.85 % against 96.93 % from random real ones.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.sweeps import provenance, variants  # noqa: E402
from src.config import load_params  # noqa: E402
from src.data import store  # noqa: E402
from src.distill import datadam  # noqa: E402
from src.evaluate import _protocol  # noqa: E402
from src.protocol import evaluate_set  # noqa: E402
from src.runtime import configure_threads, pick_device  # noqa: E402
from src.ui import cli_errors  # noqa: E402


def herding(x: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of k rows of x (n, d) whose running mean greedily tracks the mean of all rows."""
    mu, total, chosen = x.mean(0), torch.zeros_like(x[0]), []
    taken = torch.zeros(len(x), dtype=torch.bool)
    for i in range(k):
        gap = ((total + x) / (i + 1) - mu).square().sum(1).masked_fill(taken, float("inf"))
        j = int(gap.argmin())
        chosen.append(j)
        taken[j] = True
        total += x[j]
    return torch.tensor(chosen)


def herded_subset(ds: store.Dataset, ipc: int) -> torch.Tensor:
    """Class-contiguous indices of `ipc` herded training images per class."""
    x, y = ds.normalize(ds.train.x).flatten(1), ds.train.y
    out = []
    for c in range(ds.num_classes):
        rows = (y == c).nonzero().squeeze(1)
        out.append(rows[herding(x[rows], ipc)])
    return torch.cat(out)


@cli_errors
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ipc", type=int, default=1)
    ap.add_argument("--iterations", type=int, default=None, help="DataDAM iterations (default: the profile's)")
    ap.add_argument("--models", type=int, default=5)
    ap.add_argument("--no-distill", action="store_true", help="only score the herded images themselves")
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--preset", default=None)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    configure_threads()
    params = load_params(args.params, args.preset)
    where, spec = provenance(), params.evaluate.at("mnist", args.ipc)
    body = f"iterations={args.iterations}" if args.iterations else ""
    ((name, updates, cfg),) = variants([f"herding:{body}"], params.distill.datadam["mnist"])
    ds, device = store.load("mnist"), pick_device(args.device)
    idx = herded_subset(ds, args.ipc)

    def score(images, labels) -> dict:
        ev = evaluate_set(images, labels, ds.val.x, ds.val.y, ds.normalize, spec.model, ds.num_classes, _protocol(spec),
                          args.models, params.seed, device)
        return {"acc_mean": round(float(np.mean(ev.accs)), 2), "accs": [round(a, 2) for a in ev.accs],
                "eval_seconds": round(ev.seconds, 1)}

    print(json.dumps({**where, "variant": "herded_images_alone", "ipc": args.ipc, "split": "val",
                      "train_indices": idx.tolist(), **score(ds.normalize(ds.train.x[idx]), ds.train.y[idx])}), flush=True)
    if args.no_distill:
        return
    t0 = time.perf_counter()
    r = datadam.distill(ds, cfg, args.ipc, "real", params.seed, device, start_images=ds.normalize(ds.train.x[idx]))
    print(json.dumps({**where, "variant": "herding_init_" + str(cfg.iterations), "overrides": updates, "ipc": args.ipc,
                      "init": "herding", "iterations": cfg.iterations, "split": "val",
                      "distill_seconds": round(time.perf_counter() - t0, 1),
                      "final_loss_mean50": round(sum(r.losses[-50:]) / len(r.losses[-50:]), 4),
                      **score(r.images, r.labels)}), flush=True)


if __name__ == "__main__":
    main()
