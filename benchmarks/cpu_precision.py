"""bf16 autocast and torch.compile on the CPU: speed and accuracy of the training paths that use them.

    python benchmarks/cpu_precision.py [--models 3] [--epochs 300] [--steps 40]

Two workloads, each variant run one after the other in this process (compare the ratios):
  protocol  the evaluation protocol (src/protocol.py) on a random real ipc-10 MNIST subset with the
            params.yaml evaluation model, DSA, compiled training step: fp32 vs `amp_cpu` (bf16),
            for the main model and the cross-architecture models. Reports ms per training step
            (compilation excluded: the first model of each variant is timed apart), seconds to
            test one model on the 10,000 test images, and the test accuracy of --models models.
  fullstep  one full-data training step (src/train.py loss_step: forward, cross-entropy,
            backward, SGD) of the baseline/expert network at batch 128: eager fp32, compiled fp32,
            compiled bf16.
The `bf16` variants run `amp_cpu` as the stages do: in bf16 where `cpu_bf16` (printed) is true,
in float32 on a CPU without bf16 hardware; `DD_CPU_BF16=1` measures the emulated bf16 there.
Prints one JSON line. Needs data/processed/mnist (`dvc repro prepare@mnist`).
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

from src.config import load_params  # noqa: E402
from src.data import store  # noqa: E402
from src.models.registry import build  # noqa: E402
from src.protocol import ModelBatch, Protocol, predict, random_subset, train_models  # noqa: E402
from src.runtime import configure_threads, cpu_bf16, generator, seeded  # noqa: E402
from src.tracking import cpu_name  # noqa: E402
from src.train import loss_step  # noqa: E402


def protocol_variant(ds, spec, x, y, cfg, amp: bool, models: int, epochs: int, seed: int) -> dict:
    proto = Protocol(epochs=epochs, batch_size=cfg.batch_size, lr=cfg.lr, momentum=cfg.momentum,
                     weight_decay=cfg.weight_decay, dsa_strategy=cfg.dsa_strategy, compile=True, amp_cpu=amp)
    dev = torch.device("cpu")
    accs, step_s, test_s, first_s = [], [], [], None
    for i in range(models + 1):  # model 0 pays the compilation and is not counted
        mb = ModelBatch(spec, ds.channels, ds.num_classes, ds.im_size, 1, seed, dev, first=i, compile=True)
        t0 = time.perf_counter()
        train_models(mb, x, y, proto, generator(seed, dev, "bench-precision", i))
        t1 = time.perf_counter()
        logits = predict(mb, ds.test.x, ds.normalize, amp_cpu=amp)
        t2 = time.perf_counter()
        if i == 0:
            first_s = t1 - t0
            continue
        step_s.append((t1 - t0) / epochs)
        test_s.append(t2 - t1)
        accs.append(float((logits[0].argmax(-1) == ds.test.y).float().mean() * 100))
    t = torch.tensor(accs)
    return {"ms_per_step": round(1000 * sum(step_s) / len(step_s), 2), "test_s": round(sum(test_s) / len(test_s), 2),
            "first_model_s": round(first_s, 1), "acc_mean": round(float(t.mean()), 2),
            "acc_std": round(float(t.std(unbiased=False)), 2), "accs": [round(a, 2) for a in accs]}


def fullstep_variant(spec, ds, compile: bool, amp: bool, steps: int, seed: int) -> float:
    with seeded(seed, "bench-fullstep"):
        net = build(spec, ds.channels, ds.num_classes, ds.im_size)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    step = loss_step(net, 128, torch.device("cpu"), compile, amp)
    g = generator(seed, "cpu", "bench-fullstep-batch")
    idx = torch.randint(0, len(ds.train), (128,), generator=g)
    xb, yb = ds.normalize(ds.train.x[idx]), ds.train.y[idx]
    net.train()

    def one():
        _, loss = step(xb, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(5):  # compilation and warm-up
        one()
    t0 = time.perf_counter()
    for _ in range(steps):
        one()
    return round(1000 * (time.perf_counter() - t0) / steps, 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    configure_threads()
    params = load_params()
    cfg = params.evaluate.mnist
    ds = store.load("mnist")
    idx = random_subset(ds.train.y, 10, ds.num_classes, generator(args.seed, "cpu", "bench-subset"))
    x, y = ds.normalize(ds.train.x[idx]), ds.train.y[idx]
    out = {"benchmark": "cpu_precision", "machine": platform.machine(), "processor": cpu_name(),
           "cpu_bf16": cpu_bf16(), "threads": torch.get_num_threads(), "torch": torch.__version__,
           "epochs": args.epochs, "models": args.models}
    for spec in [cfg.model, *cfg.cross_models]:
        name = spec.name if spec.name != "convnet" else f"convnet{spec.depth}-w{spec.width}"
        fp32 = protocol_variant(ds, spec, x, y, cfg, False, args.models, args.epochs, args.seed)
        bf16 = protocol_variant(ds, spec, x, y, cfg, True, args.models, args.epochs, args.seed)
        out[f"protocol_{name}"] = {"fp32": fp32, "bf16": bf16,
                                   "step_speedup": round(fp32["ms_per_step"] / bf16["ms_per_step"], 2),
                                   "test_speedup": round(fp32["test_s"] / bf16["test_s"], 2)}
    base = params.baseline.mnist.model
    eager = fullstep_variant(base, ds, False, False, args.steps, args.seed)
    comp = fullstep_variant(base, ds, True, False, args.steps, args.seed)
    comp16 = fullstep_variant(base, ds, True, True, args.steps, args.seed)
    out["fullstep_ms"] = {"eager_fp32": eager, "compiled_fp32": comp, "compiled_bf16": comp16,
                          "compiled_fp32_speedup": round(eager / comp, 2), "compiled_bf16_speedup": round(eager / comp16, 2)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
