"""Validation accuracy along PAD's expert trajectories: saved experts, or probe experts trained with overrides.

    python benchmarks/expert_curves.py --experts models/experts/mnist
    python benchmarks/expert_curves.py --probe nodsa:dsa_strategy=none --probe b32:batch_size=32

Without `--probe`: for every expert of `--experts` (default: the pipeline's), the accuracy of each
saved epoch's parameters on the first `--val` images of the validation split. With `--probe
name:key=value,...` (values parsed as YAML, over experts.mnist in params.yaml): expert 0 trained
again with the overrides on the saved experts' pool and difficulty scores, and its curve: what
caps the experts' accuracy. Prints one JSON line per expert or probe.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from benchmarks.sweeps import variants  # noqa: E402
from src.config import load_params  # noqa: E402
from src.data import store  # noqa: E402
from src.distill import experts as ex  # noqa: E402
from src.models.registry import build  # noqa: E402
from src.runtime import configure_threads  # noqa: E402
from src.train import accuracy  # noqa: E402
from src.ui import cli_errors  # noqa: E402


def curve(traj: torch.Tensor, spec, ds, val) -> list[float]:
    net = build(spec, ds.channels, ds.num_classes, ds.im_size)
    out = []
    for theta in traj:
        torch.nn.utils.vector_to_parameters(theta.float(), net.parameters())
        out.append(round(accuracy(net, val, ds, torch.device("cpu"))[0], 2))
    return out


@cli_errors  # a bad --probe: one line, exit 2
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experts", type=Path, default=Path("models/experts/mnist"))
    ap.add_argument("--probe", action="append", default=[])
    ap.add_argument("--val", type=int, default=2000, help="validation images scored")
    args = ap.parse_args()
    configure_threads()
    ds = store.load("mnist")
    val = store.Split(ds.val.x[:args.val], ds.val.y[:args.val])
    saved = ex.Experts.open(args.experts, "mnist")
    machine = f"{platform.machine()} CPU, {torch.get_num_threads()} threads"
    base = {"experts": str(args.experts), "val_images": len(val), "machine": machine}
    if not args.probe:
        for i in range(saved.n):
            traj = torch.stack([saved.params(i, t) for t in range(saved.epochs + 1)])
            print(json.dumps({**base, "expert": i, "val_acc_by_epoch": curve(traj, saved.model, ds, val)}), flush=True)
    params = load_params()
    spec0 = params.experts["mnist"]
    pool, scores = saved.difficulty()  # the same pool and curriculum order as the saved experts
    x, y = ds.normalize(ds.train.x[pool]), ds.train.y[pool]
    for name, updates, spec in variants(args.probe, spec0):
        t0 = time.perf_counter()
        traj, _ = ex.train_expert(x, y, scores, spec, ds.num_classes, params.seed, 0)
        print(json.dumps({**base, "probe": name, "overrides": updates, "seconds": round(time.perf_counter() - t0, 1),
                          "val_acc_by_epoch": curve(traj, spec.model, ds, val)}), flush=True)


if __name__ == "__main__":
    main()
