"""Why the evaluator does not batch models on the CPU: N ConvNet-3 conv stacks as one grouped
convolution network vs N ordinary networks, forward + backward on 100 MNIST-sized images each.

    python benchmarks/bench_grouped_conv.py [--models 10] [--width 64] [--repeats 5]

Prints one JSON line with milliseconds per fwd+bwd for both layouts (this is what vmap over
stacked parameters lowers to).
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch
from torch import nn


def stack(groups: int, width: int) -> nn.Sequential:
    layers, cin = [], groups
    for _ in range(3):
        layers += [nn.Conv2d(cin, width * groups, 3, padding=1, groups=groups), nn.GroupNorm(width * groups, width * groups),
                   nn.ReLU(), nn.AvgPool2d(2)]
        cin = width * groups
    return nn.Sequential(*layers)


def timed(fn, repeats: int) -> float:
    fn()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=10)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.manual_seed(0)
    singles = [stack(1, args.width) for _ in range(args.models)]
    xs = [torch.randn(args.batch, 1, 28, 28) for _ in range(args.models)]
    grouped = stack(args.models, args.width)
    xg = torch.randn(args.batch, args.models, 28, 28)

    def loop():
        for m, x in zip(singles, xs):
            m(x).sum().backward()

    loop_ms = timed(loop, args.repeats)
    grouped_ms = timed(lambda: grouped(xg).sum().backward(), args.repeats)
    print(json.dumps({"benchmark": "grouped_conv", "machine": platform.machine(), "threads": torch.get_num_threads(),
                      "torch": torch.__version__, "models": args.models, "width": args.width, "batch": args.batch,
                      "loop_ms": round(loop_ms, 1), "grouped_ms": round(grouped_ms, 1),
                      "grouped_over_loop": round(grouped_ms / loop_ms, 2)}))


if __name__ == "__main__":
    main()
