"""Where PAD's CPU-profile accuracy comes from: the committed PAD set evaluated with its parts swapped.

    python benchmarks/pad_ablation.py --models 2

Evaluates (ConvNet-3 w64, the shared protocol, final iterate) the initial images vs the distilled
images, hard labels vs the soft labels, and the experts' lr_teacher vs the learned learning rate.
Reads data/processed/mnist, models/experts/mnist and data/distilled/mnist/pad_ipc10_real.safetensors
and params.yaml; prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from src.config import load_params  # noqa: E402
from src.data import store  # noqa: E402
from src.distill import pad, synthetic  # noqa: E402
from src.distill.experts import Experts  # noqa: E402
from src.evaluate import _protocol  # noqa: E402
from src.protocol import evaluate_set  # noqa: E402
from src.runtime import configure_threads  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=2)
    ap.add_argument("--run", default="mnist-pad-ipc10-real")
    args = ap.parse_args()
    configure_threads()
    params = load_params()
    run = params.pad_runs[args.run]
    cfg, spec = params.distill.pad[run.dataset], params.evaluate.at("mnist", run.ipc)
    ds = store.load(run.dataset)
    experts = Experts.open(Path("models/experts") / run.dataset, run.dataset)
    s = synthetic.load_for(Path("data/distilled") / run.dataset / f"{run.name}.safetensors", ds)
    init, hard, logits, _ = pad.initial_set(ds, experts, run.ipc, cfg.max_start_epoch, params.seed, torch.device("cpu"))
    variants = {
        "init_hard_lr_teacher": (init, hard, experts.lr_teacher),
        "init_expert_soft_lr_teacher": (init, logits.softmax(1), experts.lr_teacher),
        "final_hard_lr_teacher": (s.images, s.labels.argmax(1), experts.lr_teacher),
        "final_soft_lr_teacher": (s.images, s.labels, experts.lr_teacher),
        "final_soft_learned_lr": (s.images, s.labels, float(s.lr)),
    }
    out = {"run": args.run, "n_models": args.models, "lr_teacher": experts.lr_teacher, "learned_lr": float(s.lr),
           "expert_val_acc": [e["val_acc"] for e in experts.manifest["experts"]]}
    for name, (x, y, lr) in variants.items():
        r = evaluate_set(x, y, ds.test.x, ds.test.y, ds.normalize, spec.model, ds.num_classes, _protocol(spec),
                         args.models, params.seed, torch.device("cpu"), lr=lr)
        out[name] = round(sum(r.accs) / len(r.accs), 2)
        print(name, out[name], file=sys.stderr, flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
