"""What drawing DSA's operation per minibatch (the reference code) instead of per image changes in
the evaluation protocol: the pipeline's distilled sets and random anchors, each evaluated under both
rules with the same seeds, scored on the validation split.

    python benchmarks/dsa_op_choice.py --sets datadam_ipc1_real datadam_ipc10_real --anchors 1 10 [--preset paper]

The reference DSA (DC/DSA/DM, and the DataDAM and PAD code built on it) picks one of the strategy's
operations per call, that is per minibatch, and draws its magnitudes per image; sessions up to 15
of this project drew the operation per image. Prints one JSON line per set and rule, naming its
machine, commit and command. Reads data/processed/mnist and data/distilled/mnist/<set>.safetensors.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from benchmarks.sweeps import provenance  # noqa: E402
from src.config import load_params  # noqa: E402
from src.data import store  # noqa: E402
from src.distill import synthetic  # noqa: E402
from src.evaluate import _protocol, set_lr  # noqa: E402
from src.protocol import anchor_subset, evaluate_set  # noqa: E402
from src.runtime import configure_threads, pick_device  # noqa: E402
from src.ui import cli_errors  # noqa: E402

RULES = {"per_minibatch": False, "per_image": True}  # Protocol.dsa_op_per_sample


@cli_errors
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="*", default=[], help="names under data/distilled/mnist/, e.g. datadam_ipc1_real")
    ap.add_argument("--anchors", nargs="*", type=int, default=[], help="random real subsets (ipc) of stage random@")
    ap.add_argument("--models", type=int, default=5)
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--preset", default=None, help="profile to apply instead of the file's own (e.g. paper)")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    configure_threads()
    params = load_params(args.params, args.preset)
    spec, where = params.evaluate.mnist, provenance()
    ds, device = store.load("mnist"), pick_device(args.device)
    cases = []
    for ipc in args.anchors:
        idx = anchor_subset(ds.train.y, ipc, ds.num_classes, params.seed, "mnist")
        cases.append((f"random_ipc{ipc}", ds.normalize(ds.train.x[idx]), ds.train.y[idx], None))
    for name in args.sets:
        syn = synthetic.load_for(Path("data/distilled/mnist") / f"{name}.safetensors", ds)
        cases.append((name, syn.images, syn.labels, set_lr(syn)))
    for name, x, y, lr in cases:
        for rule, per_image in RULES.items():
            proto = dataclasses.replace(_protocol(spec), dsa_op_per_sample=per_image)
            ev = evaluate_set(x, y, ds.val.x, ds.val.y, ds.normalize, spec.model, ds.num_classes, proto,
                              args.models, params.seed, device, lr=lr)
            print(json.dumps({**where, "benchmark": "dsa_op_choice", "set": name, "rule": rule, "split": "val",
                              "preset": params.preset, "epochs": spec.epochs, "model": spec.model.model_dump(),
                              "acc_mean": round(float(np.mean(ev.accs)), 2), "acc_std": round(float(np.std(ev.accs)), 2),
                              "accs": [round(a, 2) for a in ev.accs], "eval_seconds": round(ev.seconds, 1)}), flush=True)


if __name__ == "__main__":
    main()
