"""Write the params file that benchmarks/gpu.sh runs the pipeline's stage code with: params.yaml
under `preset: paper`, restricted to MNIST DataDAM at 1/10/50 images per class (real init) with
their random anchors, and one PAD run at 10 images per class with shortened experts.

    python benchmarks/gpu_params.py OUT.yaml [--datadam-iterations N] [--pad-iterations N] [--n-models N] [--smoke]

Every departure from the paper preset is an option here and is echoed as one JSON line, so the
results that gpu.sh writes say exactly what ran. --smoke shrinks everything for a CPU rehearsal.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--datadam-iterations", type=int, default=None, help="default: the paper preset's")
    ap.add_argument("--pad-iterations", type=int, default=500)
    ap.add_argument("--n-experts", type=int, default=4)
    ap.add_argument("--expert-epochs", type=int, default=12, help="epochs trained and kept per expert")
    ap.add_argument("--n-models", type=int, default=None,
                    help="evaluation models per set (default: the paper preset's 10; a CPU run may afford fewer)")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes for a CPU rehearsal of the script")
    args = ap.parse_args()

    p = yaml.safe_load(Path("params.yaml").read_text())
    p["preset"] = "paper"
    p["datasets"] = ["mnist"]
    p["runs"] = {f"mnist-datadam-ipc{i}-real": {"dataset": "mnist", "method": "datadam", "ipc": i, "init": "real"}
                 for i in (1, 10, 50)}
    p["random"] = {f"mnist-ipc{i}": {"dataset": "mnist", "ipc": i} for i in (1, 10, 50)}
    p["expert_datasets"] = ["mnist"]
    p["pad_runs"] = {"mnist-pad-ipc10-real": {"dataset": "mnist", "method": "pad", "ipc": 10, "init": "real"}}
    paper = p["presets"]["paper"]
    changes = {}
    # the cross-architecture evaluation (AlexNet/VGG-11/ResNet-18 x 5 models x 1000 epochs per set)
    # does not fit the script's 8 minutes: `dvc exp run -S preset=paper` runs it
    paper["evaluate"]["mnist"]["cross_models"] = []
    changes["evaluate.cross_models"] = []
    if args.datadam_iterations is not None:
        paper["distill"]["datadam"]["mnist"]["iterations"] = args.datadam_iterations
        changes["distill.datadam.iterations"] = args.datadam_iterations
    # PAD shortened to fit (paper preset: 8 experts x 22 kept epochs, 2000 iterations, T 10 -> 20):
    # start epochs scaled to the shorter experts
    keep = args.expert_epochs
    paper["experts"]["mnist"].update(n_experts=args.n_experts, keep_epochs=keep)
    pad = {"iterations": args.pad_iterations, "start_epoch": max(1, keep // 2 - 1), "max_start_epoch": max(2, keep - 2),
           "expand_iterations": max(1, args.pad_iterations // 2)}
    paper["distill"]["pad"]["mnist"].update(pad)
    changes.update({"experts.n_experts": args.n_experts, "experts.keep_epochs": keep,
                    **{f"distill.pad.{k}": v for k, v in pad.items()}})
    if args.smoke:
        smoke = {"evaluate": {"epochs": 4, "n_models": 2}, "datadam": {"iterations": 3},
                 "pad": {"iterations": 2, "syn_steps": 3, "batch_syn": 20},
                 "experts": {"epochs": 4, "keep_epochs": 4, "pool_per_class": 20, "n_experts": 2, "score_epochs": 1}}
        paper["evaluate"]["mnist"].update(smoke["evaluate"])
        paper["distill"]["datadam"]["mnist"].update(smoke["datadam"])
        paper["distill"]["pad"]["mnist"].update(smoke["pad"], start_epoch=1, max_start_epoch=2, expand_iterations=1)
        paper["experts"]["mnist"].update(smoke["experts"])
        changes["smoke"] = smoke
    if args.n_models is not None:  # after --smoke: an explicit count wins
        paper["evaluate"]["mnist"]["n_models"] = args.n_models
        changes["evaluate.n_models"] = args.n_models
    args.out.write_text(yaml.safe_dump(p, sort_keys=False))
    print(json.dumps({"params_file": str(args.out), "preset": "paper", "changes_from_paper_preset": changes}))


if __name__ == "__main__":
    main()
