"""PAD's matching gradient replayed from a CUDA graph against the eager call, in one process.

    python benchmarks/bench_pad_graph.py --device cuda --syn-steps 40 --batch-syn 100 --width 128
    python benchmarks/bench_pad_graph.py --device cpu --syn-steps 4 --width 8    # no capture: checks the static-buffer path

On the H200 a PAD iteration (MNIST ipc 10, N = 40, batch 100, ConvNet-3 w128) took 665 ms against a
101 ms floor, bound by host work (benchmarks/results/host_overhead_cpu.json). Since session 9 an
iteration draws its N minibatches up front (`pad.Minibatches`), so the unroll and its backward hold
no random draw, and since trajectory_loss weighs the parameter mask instead of indexing with it
(boolean indexing reads the count back to the host) nothing in it syncs with the host either: one
iteration can be captured once and replayed. The graph reads static buffers (start and target parameters, the N
steps' indices and DSA parameters), refilled before every replay; the images, labels and student
lr are the optimiser's own tensors, updated in place, so their addresses hold.

Times `--iterations` eager iterations and as many replays (each: draw, copy into the buffers,
replay), and checks that a replay's loss and gradients equal the eager call's on the same draw.
On the CPU there is no capture: the static-buffer path runs eagerly (a check of this script, not
a timing). Prints one JSON line.
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

from benchmarks.bench_datadam import sync  # noqa: E402
from src.augment import DSA  # noqa: E402
from src.config import ModelSpec  # noqa: E402
from src.distill import pad  # noqa: E402
from src.distill.trajectory import FlatNet, matching_grads, shallow_mask, trajectory_loss  # noqa: E402
from src.models.registry import build  # noqa: E402
from src.runtime import configure_threads, pick_device  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--ipc", type=int, default=10)
    ap.add_argument("--syn-steps", type=int, default=40)
    ap.add_argument("--batch-syn", type=int, default=100)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--depth", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--hard", action="store_true", help="hard labels (default: soft labels, as the paper preset)")
    args = ap.parse_args()
    configure_threads()
    device = pick_device(args.device)
    K, N, B = 10, args.syn_steps, args.batch_syn
    g = torch.Generator(device=device).manual_seed(0)
    net = FlatNet(build(ModelSpec(depth=args.depth, width=args.width, norm="instance"), 1, K, (28, 28)).to(device))
    theta = torch.cat([p.detach().flatten() for p in net.module.parameters()])
    images = torch.randn(args.ipc * K, 1, 28, 28, device=device, generator=g).requires_grad_(True)
    soft = not args.hard
    labels = (torch.randn(args.ipc * K, K, device=device, generator=g).requires_grad_(True) if soft
              else torch.arange(K, device=device).repeat_interleave(args.ipc))
    lr = torch.tensor(0.01, device=device, requires_grad=True)
    leaves = [images, lr] + ([labels] if soft else [])
    mask = shallow_mask(net.sizes, 0.1).to(device)
    dsa = DSA("color_crop_cutout_scale_rotate")
    B = min(B, len(images))

    def draw():
        """One iteration's random inputs: start/target parameters, step indices, DSA parameters."""
        start = theta + 0.01 * torch.randn(theta.shape, device=device, generator=g)
        target = start + 0.01 * torch.randn(theta.shape, device=device, generator=g)
        return start, target, *pad.draw_steps(len(images), N, B, dsa, (28, 28), g, device)

    def grads_for(start, target, idx, params):
        mb = pad.Minibatches(images, labels, soft, dsa, idx, params, at_once=True)
        return matching_grads(net, start, mb, N, lr, lambda th: trajectory_loss(th, start, target, mask), leaves)

    # eager: what pad.distill does per iteration (the draw included)
    grads_for(*draw())
    sync(device)
    t0 = time.perf_counter()
    for _ in range(args.iterations):
        loss, grads = grads_for(*draw())
    sync(device)
    eager_s = (time.perf_counter() - t0) / args.iterations

    # graphed: static buffers, captured once, refilled and replayed
    static = [t.clone() for t in draw()[:3]]
    static_params = {k: v.clone() for k, v in draw()[3].items()}

    def fill(start, target, idx, params):
        for buf, new in zip(static, (start, target, idx)):
            buf.copy_(new)
        for k, v in params.items():
            static_params[k].copy_(v)

    def body():
        return grads_for(*static, static_params)

    capture = device.type == "cuda"
    if capture:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up outside the capture (cuDNN plans, allocator)
            for _ in range(3):
                body()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out_loss, out_grads = body()

    def replay():
        if capture:
            graph.replay()
            return out_loss, out_grads
        return body()

    # the same draw through both paths must give the same loss and gradients
    check = draw()
    ref_loss, ref_grads = grads_for(*check)
    fill(*check)
    got_loss, got_grads = replay()
    match = bool(torch.allclose(ref_loss, got_loss, rtol=1e-4, atol=1e-6)) and all(
        torch.allclose(a, b, rtol=1e-3, atol=1e-6) for a, b in zip(ref_grads, got_grads))

    sync(device)
    t0 = time.perf_counter()
    for _ in range(args.iterations):
        fill(*draw())
        loss, grads = replay()
    sync(device)
    graph_s = (time.perf_counter() - t0) / args.iterations
    print(json.dumps({
        "benchmark": "pad_graph", "device": str(device),
        "device_name": torch.cuda.get_device_name() if device.type == "cuda" else (platform.processor() or platform.machine()),
        "torch": torch.__version__, "ipc": args.ipc, "syn_steps": N, "batch_syn": B, "depth": args.depth, "width": args.width,
        "soft_labels": soft, "iterations": args.iterations, "captured": capture,
        "eager_ms_per_iter": round(eager_s * 1000, 1), "graph_ms_per_iter": round(graph_s * 1000, 1),
        "speedup": round(eager_s / graph_s, 2), "grads_match": match,
        "peak_memory_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1) if device.type == "cuda" else None,
    }))


if __name__ == "__main__":
    main()
