"""Why the evaluator does not batch models on the CPU: N ConvNet-3 conv stacks as one grouped
convolution network vs N ordinary networks, forward + backward on 100 MNIST-sized images each.

    python benchmarks/bench_grouped_conv.py [--models 10] [--width 64] [--repeats 5]

Prints one JSON line with milliseconds per fwd+bwd for both layouts (this is what vmap over
stacked parameters lowers to), in NCHW fp32 and, for the middle 64->64 convolution alone, in
every memory format x dtype pair (NCHW / channels-last x fp32 / bf16).
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


def conv_formats(models: int, width: int, batch: int, repeats: int) -> dict:
    """The second block's convolution (width -> width at 14x14) alone, fwd+bwd, per format and dtype."""
    from torch.nn import functional as F

    out = {}
    for fmt in ("nchw", "channels_last"):
        mf = torch.channels_last if fmt == "channels_last" else torch.contiguous_format
        for dtype in (torch.float32, torch.bfloat16):
            def leaf(*shape):
                return torch.randn(*shape, dtype=dtype).contiguous(memory_format=mf if len(shape) == 4 else
                                                                   torch.contiguous_format).requires_grad_()
            xs = [leaf(batch, width, 14, 14) for _ in range(models)]
            ws = [leaf(width, width, 3, 3) for _ in range(models)]
            xg, wg = leaf(batch, width * models, 14, 14), leaf(width * models, width, 3, 3)

            def loop():
                for x, w in zip(xs, ws):
                    F.conv2d(x, w, padding=1).sum().backward()

            loop_ms = timed(loop, repeats)
            grouped_ms = timed(lambda: F.conv2d(xg, wg, padding=1, groups=models).sum().backward(), repeats)
            out[f"{fmt}_{str(dtype).split('.')[-1]}"] = {"loop_ms": round(loop_ms, 1), "grouped_ms": round(grouped_ms, 1),
                                                         "grouped_over_loop": round(grouped_ms / loop_ms, 2)}
    return out


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
    conv = conv_formats(args.models, args.width, args.batch, args.repeats)
    print(json.dumps({"benchmark": "grouped_conv", "machine": platform.machine(), "threads": torch.get_num_threads(),
                      "torch": torch.__version__, "models": args.models, "width": args.width, "batch": args.batch,
                      "loop_ms": round(loop_ms, 1), "grouped_ms": round(grouped_ms, 1),
                      "grouped_over_loop": round(grouped_ms / loop_ms, 2), "middle_conv": conv}))


if __name__ == "__main__":
    main()
