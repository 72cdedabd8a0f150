"""Does DataDAM's accuracy hold with bf16 autocast on the CPU? Distil one pipeline run with
`amp_cpu: true` and evaluate it exactly as the pipeline does.

    python benchmarks/datadam_amp_check.py [--run mnist-datadam-ipc10-real]

Uses params.yaml's settings for the run (seed, iterations, model, evaluation protocol) with only
`amp_cpu` switched on, then prints one JSON line: the bf16 set's accuracy (mean, std, per model),
seconds per iteration, and the fp32 pipeline result read from reports/metrics/<ds>/<name>.json
(run `dvc repro evaluate@<run>` first).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from src.config import load_params  # noqa: E402
from src.data import store  # noqa: E402
from src.distill import datadam  # noqa: E402
from src.evaluate import _protocol  # noqa: E402
from src.protocol import evaluate_set  # noqa: E402
from src.runtime import configure_threads  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default="mnist-datadam-ipc10-real")
    args = ap.parse_args()
    configure_threads()
    params = load_params()
    run = params.runs[args.run]
    cfg = params.distill.datadam[run.dataset].model_copy(update={"amp_cpu": True})
    spec = params.evaluate.at(run.dataset, run.ipc)
    ds = store.load(run.dataset)
    device = torch.device("cpu")
    r = datadam.distill(ds, cfg, run.ipc, run.init, params.seed, device)
    ev = evaluate_set(r.images, r.labels, ds.test.x, ds.test.y, ds.normalize, spec.model, ds.num_classes,
                      _protocol(spec), spec.n_models, params.seed, device)
    ref = json.loads((Path("reports/metrics") / run.dataset / f"{run.name}.json").read_text())
    print(json.dumps({"benchmark": "datadam_amp_check", "run": args.run, "machine": platform.machine(),
                      "threads": torch.get_num_threads(), "iterations": cfg.iterations, "width": cfg.model.width,
                      "bf16_acc_mean": round(float(np.mean(ev.accs)), 2), "bf16_acc_std": round(float(np.std(ev.accs)), 2),
                      "bf16_accs": [round(a, 2) for a in ev.accs], "bf16_s_per_iter": round(r.seconds / cfg.iterations, 3),
                      "fp32_acc_mean": round(ref["acc_mean"], 2), "fp32_acc_std": round(ref["acc_std"], 2),
                      "random_acc_mean": round(ref["random_acc_mean"], 2)}))


if __name__ == "__main__":
    main()
