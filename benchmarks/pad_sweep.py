"""PAD settings on the CPU profile: distil with overrides on the committed experts, evaluate the final set.

    python benchmarks/pad_sweep.py --variant hard:soft_labels=false --variant lr1e4:soft_labels=false,lr_img=10000

Each variant is `name:key=value,...` over distill.pad.mnist (values parsed as YAML). For every
variant: distil from scratch (params.yaml seed), then train `--models` ConvNet-3 w64 on the final
images with the shared protocol (soft labels at the learned lr when the variant keeps soft labels,
hard labels at the evaluation lr otherwise) and test on the MNIST test split. Prints one JSON line
per variant (accuracies, final loss, learned lr, seconds). Reads data/processed/mnist,
models/experts/mnist and params.yaml.
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
import yaml  # noqa: E402

from src.config import PADSpec, load_params  # noqa: E402
from src.data import store  # noqa: E402
from src.distill import pad  # noqa: E402
from src.distill.experts import Experts  # noqa: E402
from src.evaluate import _protocol  # noqa: E402
from src.protocol import evaluate_set  # noqa: E402
from src.runtime import configure_threads  # noqa: E402


def parse_variant(text: str) -> tuple[str, dict]:
    name, _, body = text.partition(":")
    updates = {}
    for item in filter(None, body.split(",")):
        key, _, value = item.partition("=")
        updates[key] = yaml.safe_load(value)
    return name, updates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", action="append", required=True)
    ap.add_argument("--models", type=int, default=2)
    ap.add_argument("--ipc", type=int, default=10)
    args = ap.parse_args()
    configure_threads()
    params = load_params()
    base, spec = params.distill.pad["mnist"], params.evaluate.mnist
    ds = store.load("mnist")
    experts = Experts.open(Path("models/experts/mnist"), "mnist")
    device = torch.device("cpu")
    for text in args.variant:
        name, updates = parse_variant(text)
        cfg = PADSpec.model_validate({**base.model_dump(), **updates})
        t0 = time.perf_counter()
        r = pad.distill(ds, experts, cfg, args.ipc, params.seed, device)
        distill_s = time.perf_counter() - t0
        lr = float(r.lr) if cfg.soft_labels else None
        ev = evaluate_set(r.images, r.labels, ds.test.x, ds.test.y, ds.normalize, spec.model, ds.num_classes,
                          _protocol(spec), args.models, params.seed, device, lr=lr)
        tail = r.losses[-20:]
        print(json.dumps({"variant": name, "overrides": updates, "ipc": args.ipc, "iterations": cfg.iterations,
                          "acc_mean": round(float(np.mean(ev.accs)), 2), "accs": [round(a, 2) for a in ev.accs],
                          "final_loss_mean20": round(sum(tail) / len(tail), 4), "learned_lr": float(r.lr),
                          "skipped": r.skipped, "distill_seconds": round(distill_s, 1),
                          "eval_seconds": round(ev.seconds, 1),
                          "experts_model": experts.manifest["model_name"],
                          "experts_val_acc": [round(e["val_acc"], 2) for e in experts.manifest["experts"]]}), flush=True)


if __name__ == "__main__":
    main()
