"""What PAD's unroll keeps in memory, counted exactly on the CPU for any shape, and what a GPU run
of that shape would then peak at.

    python benchmarks/pad_memory.py                       # the MNIST calibration shape and MHIST candidates
    python benchmarks/pad_memory.py --shape mhist:224:7:128:20 --steps 20 40 80

One student step (forward, cross-entropy, the gradient with create_graph=True, the SGD update) runs
under `torch.autograd.graph.saved_tensors_hooks`, which sees every tensor autograd keeps for the
outer backward; their storages, counted once each, are the step's saved bytes S. The full unroll
keeps N steps (N x S, plus the N x batch augmented images); the checkpointed path keeps one step's
graph and the N parameter vectors. A GPU's peak adds the backward's transient buffers on top: the
two H200 measurements of session 8 (MNIST ipc 10, N = 40, batch 100, ConvNet-3 w128: 8,990 MB
full, 456 MB checkpointed, benchmarks/results/gpu_nvidia_h200/bench_pad.jsonl) give each mode's
ratio of measured peak to counted bytes, and the prediction for another shape is its counted bytes
times that ratio. A prediction, not a measurement: `benchmarks/gpu.sh` measures the MHIST shape on
the GPU itself (bench_pad_mhist224). Prints one JSON line.

Shapes are `name:resolution:depth:width:batch` (channels and classes: 1 and 10 for mnist, 3 and 2
for mhist).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from src.config import ModelSpec  # noqa: E402
from src.distill.trajectory import FlatNet, student_step  # noqa: E402
from src.models.registry import build  # noqa: E402

CALIBRATION = {"shape": "mnist:28:3:128:100", "steps": 40, "full_mb": 8989.7, "checkpointed_mb": 455.9,
               "source": "benchmarks/results/gpu_nvidia_h200/bench_pad.jsonl (NVIDIA H200, session 8)"}
DATASETS = {"mnist": (1, 10), "mhist": (3, 2)}
MB = 2**20


def parse_shape(text: str) -> dict:
    try:
        name, res, depth, width, batch = text.split(":")
        channels, classes = DATASETS[name]
        return {"shape": text, "channels": channels, "classes": classes, "resolution": int(res), "depth": int(depth),
                "width": int(width), "batch": int(batch)}
    except (ValueError, KeyError):
        raise SystemExit(f"--shape {text!r}: expected name:resolution:depth:width:batch with name in {sorted(DATASETS)}")


def step_bytes(shape: dict) -> dict:
    """Saved bytes of one student step (activations and the parameter vector) and the vector's size."""
    net = FlatNet(build(ModelSpec(depth=shape["depth"], width=shape["width"], norm="instance"), shape["channels"],
                        shape["classes"], (shape["resolution"],) * 2))
    theta = torch.cat([p.detach().flatten() for p in net.module.parameters()]).requires_grad_(True)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(shape["batch"], shape["channels"], shape["resolution"], shape["resolution"], generator=g,
                    requires_grad=True)  # the images are leaves: the outer gradient reaches them
    y = torch.randint(0, shape["classes"], (shape["batch"],), generator=g)
    lr = torch.tensor(0.01, requires_grad=True)
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        s = t.untyped_storage()
        storages[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        student_step(net, theta, x, y, lr)
    theta_bytes = theta.numel() * theta.element_size()
    inputs = x.numel() * x.element_size()
    saved = sum(storages.values())
    return {"saved_bytes": saved, "params": theta.numel(), "theta_bytes": theta_bytes, "input_bytes": inputs,
            "n_saved_storages": len(storages)}


def kept_mb(s: dict, steps: int) -> dict[str, float]:
    """What each mode keeps through the unroll, before the backward's transients."""
    return {"full": steps * (s["saved_bytes"] + s["input_bytes"]) / MB,
            "checkpointed": (s["saved_bytes"] + s["input_bytes"] + steps * s["theta_bytes"]) / MB}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", action="append", default=None,
                    help="name:resolution:depth:width:batch (repeatable; default: MHIST candidates)")
    ap.add_argument("--steps", type=int, nargs="+", default=[20, 40, 80], help="unroll lengths N to predict")
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    shapes = args.shape or ["mhist:224:7:128:10", "mhist:224:7:128:20", "mhist:112:6:128:20", "mhist:112:6:128:50",
                            "mhist:64:5:128:50", "mhist:64:5:128:100"]
    cal = parse_shape(CALIBRATION["shape"])
    cal_kept = kept_mb(step_bytes(cal), CALIBRATION["steps"])
    ratio = {"full": CALIBRATION["full_mb"] / cal_kept["full"],
             "checkpointed": CALIBRATION["checkpointed_mb"] / cal_kept["checkpointed"]}
    rows = []
    for text in shapes:
        shape = parse_shape(text)
        s = step_bytes(shape)
        row = {**shape, **s, "saved_mb_per_step": round(s["saved_bytes"] / MB, 1), "predicted_peak_mb": {}}
        for n in args.steps:
            kept = kept_mb(s, n)
            row["predicted_peak_mb"][n] = {mode: round(kept[mode] * ratio[mode], 1) for mode in kept}
        rows.append(row)
    print(json.dumps({"benchmark": "pad_memory", "machine": platform.processor() or platform.machine(),
                      "torch": torch.__version__, "calibration": {**CALIBRATION, "counted_mb": {k: round(v, 1) for k, v in
                                                                                                  cal_kept.items()},
                                                                  "peak_per_counted": {k: round(v, 3) for k, v in ratio.items()}},
                      "shapes": rows}))


if __name__ == "__main__":
    main()
