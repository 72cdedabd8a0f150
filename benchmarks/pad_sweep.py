"""PAD settings on the CPU profile: distil with overrides on the committed experts, evaluate the final set.

    python benchmarks/pad_sweep.py --variant hard:soft_labels=false --variant lr1e4:soft_labels=false,lr_img=10000

Each variant is `name:key=value,...` over distill.pad.mnist (values parsed as YAML). For every
variant: distil from scratch (params.yaml seed), then train `--models` ConvNet-3 w64 on the final
images with the shared protocol (at the learned student lr when the variant's `eval_lr` is
`learned`, as the pipeline does, else at the protocol's lr; `--eval-lr` overrides) and score them on the
validation split (settings are chosen there; `--split test` for the test split). Prints one JSON
line per variant (accuracies, final loss, learned lr, seconds). `--save DIR` keeps each final set,
`--load DIR` re-scores saved sets without distilling. `--pipeline-set` also scores the set the
pipeline built (data/distilled/mnist/pad_ipc<ipc>_real.safetensors). `--amp-cpu` sets every
variant's `amp_cpu` (a bf16 unroll; the same as the override amp_cpu=true). Reads data/processed/mnist, the experts (`--experts`,
default models/experts/mnist) and params.yaml (`--params`, `--preset paper`). Every row names its
machine, commit and command.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402

from benchmarks.sweeps import provenance, sweep_parser, variants  # noqa: E402
from src.config import load_params  # noqa: E402
from src.data import store  # noqa: E402
from src.distill import pad  # noqa: E402
from src.distill.experts import Experts  # noqa: E402
from src.evaluate import _protocol  # noqa: E402
from src.protocol import anchor_subset, evaluate_set  # noqa: E402
from src.runtime import configure_threads  # noqa: E402
from src.ui import cli_errors, progress  # noqa: E402


@cli_errors  # a bad params file or preset: one line, exit 2
def main() -> None:
    ap = sweep_parser(__doc__, models=2, ipc=10)
    ap.add_argument("--experts", type=Path, default=Path("models/experts/mnist"), help="expert trajectories to match")
    ap.add_argument("--eval-lr", choices=("auto", "protocol", "learned"), default="auto",
                    help="auto: as the pipeline, the variant's eval_lr setting (distill.pad.<dataset>.eval_lr)")
    ap.add_argument("--split", choices=("val", "test"), default="val",
                    help="score on the validation split (default: settings are chosen there, never on test) or test")
    ap.add_argument("--save", type=Path, default=None, help="also write each final set to DIR/<variant>.safetensors")
    ap.add_argument("--load", type=Path, default=None, help="score DIR/<variant>.safetensors (saved by --save) instead of distilling")
    ap.add_argument("--pipeline-set", action="store_true", help="also score the pipeline's PAD set the same way")
    ap.add_argument("--amp-cpu", action="store_true", help="distil under bf16 autocast (CPU)")
    args = ap.parse_args()
    configure_threads()
    params = load_params(args.params, args.preset)
    where = provenance()
    base, spec = params.distill.pad["mnist"], params.evaluate.at("mnist", args.ipc)
    runs = variants(args.variant, base, {"amp_cpu": True} if args.amp_cpu else None)
    ds = store.load("mnist")
    experts = Experts.open(args.experts, "mnist")
    device = torch.device("cpu")
    split = ds.val if args.split == "val" else ds.test
    if args.anchor:  # the same subset as stage random@mnist-ipc<ipc>
        idx = anchor_subset(ds.train.y, args.ipc, ds.num_classes, params.seed, "mnist")
        ev = evaluate_set(ds.normalize(ds.train.x[idx]), ds.train.y[idx], split.x, split.y, ds.normalize, spec.model,
                          ds.num_classes, _protocol(spec), args.models, params.seed, device)
        print(json.dumps({**where, "variant": "random_real_anchor", "ipc": args.ipc, "split": args.split, "eval_lr": spec.lr,
                          "acc_mean": round(float(np.mean(ev.accs)), 2), "accs": [round(a, 2) for a in ev.accs]}), flush=True)
    if args.pipeline_set:
        from src.distill import synthetic
        from src.evaluate import set_lr

        path = Path("data/distilled/mnist") / f"pad_ipc{args.ipc}_real.safetensors"
        syn = synthetic.load_for(path, ds)
        ev = evaluate_set(syn.images, syn.labels, split.x, split.y, ds.normalize, spec.model, ds.num_classes,
                          _protocol(spec), args.models, params.seed, device, lr=set_lr(syn))
        print(json.dumps({**where, "variant": "pipeline_set", "file": str(path), "content_hash": syn.meta["content_hash"],
                          "split": args.split, "acc_mean": round(float(np.mean(ev.accs)), 2),
                          "accs": [round(a, 2) for a in ev.accs], "eval_seconds": round(ev.seconds, 1)}), flush=True)
    for name, updates, cfg in runs:
        row = {"variant": name, "overrides": updates, "experts": str(args.experts), "ipc": args.ipc,
               "iterations": cfg.iterations}
        if args.load is not None:  # re-score a set an earlier run saved
            saved = load_file(str(args.load / f"{name}.safetensors"))
            images, labels, learned_lr = saved["images"], saved["labels"], float(saved["lr"])
            row["loaded_from"] = str(args.load / f"{name}.safetensors")
        else:
            t0 = time.perf_counter()
            r = pad.distill(ds, experts, cfg, args.ipc, params.seed, device,
                            progress=functools.partial(progress, desc=f"distill {name}"))
            row["distill_amp_cpu"] = cfg.amp_cpu
            images, labels, learned_lr = r.images, r.labels, float(r.lr)
            tail = r.losses[-20:]
            row.update(final_loss_mean20=round(sum(tail) / len(tail), 4), skipped=r.skipped,
                       distill_seconds=round(time.perf_counter() - t0, 1))
            if args.save is not None:
                args.save.mkdir(parents=True, exist_ok=True)
                save_file({"images": images.contiguous(), "labels": labels.contiguous(), "lr": r.lr.reshape(1)},
                          str(args.save / f"{name}.safetensors"))
        learned = args.eval_lr == "learned" or (args.eval_lr == "auto" and cfg.eval_lr == "learned")
        ev = evaluate_set(images, labels, split.x, split.y, ds.normalize, spec.model, ds.num_classes,
                          _protocol(spec), args.models, params.seed, device, lr=learned_lr if learned else None)
        row.update(eval_lr=learned_lr if learned else spec.lr, split=args.split, acc_mean=round(float(np.mean(ev.accs)), 2),
                   accs=[round(a, 2) for a in ev.accs], learned_lr=learned_lr, eval_seconds=round(ev.seconds, 1),
                   experts_model=experts.manifest["model_name"],
                   experts_val_acc=[round(e["val_acc"], 2) for e in experts.manifest["experts"]])
        print(json.dumps({**where, **row}), flush=True)

if __name__ == "__main__":
    main()
