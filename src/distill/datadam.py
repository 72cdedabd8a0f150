"""DataDAM: dataset distillation by attention matching (Sajedi et al., ICCV 2023, arXiv 2310.00093).

Each iteration draws a freshly initialised network (frozen), passes `batch_real` real images of
every class and the class's synthetic images through the same siamese DSA transform, and
matches, per class, the mean spatial attention map of every block but the last and the mean
final embedding:

    A(f)  = normalize_L2( flatten( sum_c |f_c|^p ) )                      per sample
    loss  = s * sum_layers sum_classes || mean_real A - mean_syn A ||^2
          + s * lam * sum_classes || mean_real e - mean_syn e ||^2          (s = 100, lam = 0.01)

then takes one SGD step (momentum 0.5) on the synthetic images. p = 4 follows the paper; the
released code uses p = 1. All classes go through one batched forward for real and one for
synthetic images; the network returns its block activations, so no hooks are involved.

The product's original assignment schedule also trains the network on the synthetic set between
image updates (K outer initialisations x T image steps x zeta network steps): `inner_steps: T`
keeps one network draw for T image steps, `net_steps: zeta` trains it that many SGD steps on the
synthetic set after each image step, `iterations: K*T`. The defaults (1 and 0) are the paper's loop.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch.nn import functional as F

from src.augment import DSA
from src.config import DataDAMSpec
from src.data.store import Dataset
from src.distill import checkpoint
from src.distill.checkpoint import NonFiniteError
from src.errors import UserError
from src.models.init import reinit_
from src.models.registry import build
from src.protocol import random_subset, soft_cross_entropy
from src.runtime import autocast, cpu_amp, generator


def abs_pow(f: torch.Tensor, power: float) -> torch.Tensor:
    """|f|^p with cheap paths for p = 1, 2, 4 (a generic pow is several times slower on CPU)."""
    if power == 1:
        return f.abs()
    if power == 2:
        return f * f
    if power == 4:
        return (f * f).square()
    return f.abs().pow(power)


def attention_map(f: torch.Tensor, power: float) -> torch.Tensor:
    """(B, C, H, W) activations -> (B, H*W) spatial attention sum_c |f_c|^p, L2-normalised per sample."""
    return F.normalize(abs_pow(f.float(), power).sum(1).flatten(1), dim=1)


def attention_features(net, x: torch.Tensor, power: float) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Attention maps of every block but the last, and the final embedding: all the loss needs.
    Returning maps instead of activations lets torch.compile fuse norm, activation, attention
    and pooling into few passes over the (memory-bound) activations."""
    feats, emb = net.blocks(x)
    return [attention_map(f, power) for f in feats[:-1]], emb.float()


def matching_loss(net, x_real: torch.Tensor, x_syn: torch.Tensor, p: dict[str, torch.Tensor], groups_real: torch.Tensor,
                  labels: torch.Tensor, *, dsa: DSA, num_classes: int, power: float, lam: float, scale: float,
                  use_amp: bool, device_type: str) -> tuple[torch.Tensor, torch.Tensor]:
    """One iteration's (attention loss, embedding loss): the siamese DSA transform with the drawn
    parameters `p` (one draw per class), the features of both batches and the loss. Kept in one
    function so that torch.compile makes one graph of it (fewer, fused kernels and one backward
    call: on a GPU the iteration is bound by host work, benchmarks/results/host_overhead_cpu.json)."""
    x_real, x_syn = dsa.apply(x_real, p, groups_real), dsa.apply(x_syn, p, labels)
    with autocast(device_type, cpu=use_amp, cuda=use_amp):
        with torch.no_grad():
            real_att, real_emb = attention_features(net, x_real, power)
        syn_att, syn_emb = attention_features(net, x_syn, power)
    return datadam_loss(real_att, real_emb, syn_att, syn_emb, num_classes, lam, scale)


def class_means(x: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Class-contiguous rows (num_classes * k, ...) -> per-class means (num_classes, D)."""
    return x.reshape(num_classes, -1, x[0].numel()).mean(1)


def datadam_loss(real_att: list[torch.Tensor], real_emb: torch.Tensor, syn_att: list[torch.Tensor],
                 syn_emb: torch.Tensor, num_classes: int, lam: float = 0.01,
                 scale: float = 100.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(attention-matching loss, embedding-matching loss), both already scaled, from the
    attention maps of the matched layers. Rows of the real and synthetic batches must be
    grouped by class (same class order in both)."""
    att = sum(((class_means(ar, num_classes) - class_means(sa, num_classes)) ** 2).sum() for ar, sa in zip(real_att, syn_att))
    emb = ((class_means(real_emb, num_classes) - class_means(syn_emb, num_classes)) ** 2).sum()
    return scale * att, scale * lam * emb


class ClassSampler:
    """Draws k distinct random training images of every class in one vectorised call."""

    def __init__(self, labels: torch.Tensor, num_classes: int):
        order = torch.argsort(labels, stable=True)
        counts = torch.bincount(labels, minlength=num_classes)
        width = int(counts.max())
        table = torch.full((num_classes, width), -1, dtype=torch.long, device=labels.device)
        starts = torch.cumsum(counts, 0) - counts
        pos = torch.arange(len(labels), device=labels.device) - starts[labels[order]]
        table[labels[order], pos] = order
        self.table, self.valid = table, table >= 0

    def __call__(self, k: int, gen: torch.Generator) -> torch.Tensor:
        keys = torch.rand(self.table.shape, generator=gen, device=self.table.device).masked_fill(~self.valid, 2.0)
        pick = keys.topk(k, dim=1, largest=False).indices
        return self.table.gather(1, pick).flatten()  # class-contiguous


@dataclass
class Result:
    images: torch.Tensor
    labels: torch.Tensor
    init_images: torch.Tensor
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    resumed_from: int = 0


def initial_images(ds: Dataset, ipc: int, init: str, seed: int, device: torch.device) -> torch.Tensor:
    """Class-contiguous starting images: random real ones of each class, or N(0, 1) noise in normalised space."""
    n = ds.num_classes * ipc
    if init == "real":
        idx = random_subset(ds.train.y, ipc, ds.num_classes, generator(seed, "cpu", "init-real"))
        return ds.normalize(ds.train.x[idx]).to(device)
    if init == "noise":
        g = generator(seed, "cpu", "init-noise")
        return torch.randn(n, ds.channels, *ds.im_size, generator=g).to(device)
    raise UserError(f"init: {init!r} is not one of real, noise")


def distill(ds: Dataset, cfg: DataDAMSpec, ipc: int, init: str, seed: int, device: torch.device,
            ckpt_path: Path | None = None, ckpt_key: str = "", on_log: Callable[[int, dict], None] | None = None,
            progress: Callable = lambda it, **kw: it, start_images: torch.Tensor | None = None) -> Result:
    """Run DataDAM; resumes from `ckpt_path` when it holds a compatible checkpoint. `start_images`
    (normalised, class-contiguous, ipc per class) replaces the start `init` would draw, for probes
    of other starts (benchmarks/datadam_init_probe.py)."""
    K = ds.num_classes
    x_train, y_train = ds.train.x.to(device), ds.train.y.to(device)
    sampler = ClassSampler(y_train, K)
    if start_images is None:
        init_images = initial_images(ds, ipc, init, seed, device)
    elif start_images.shape != (K * ipc, ds.channels, *ds.im_size):
        raise ValueError(f"start_images: shape {tuple(start_images.shape)}, expected {(K * ipc, ds.channels, *ds.im_size)}")
    else:
        init_images = start_images.to(device)
    labels = torch.arange(K, device=device).repeat_interleave(ipc)
    images = init_images.clone().requires_grad_(True)
    opt = torch.optim.SGD([images], lr=cfg.lr_img, momentum=cfg.momentum)
    start = 0
    if ckpt_path is not None and (state := checkpoint.load(ckpt_path, ckpt_key, images.shape)) is not None:
        start = state["iteration"]
        with torch.no_grad():
            images.copy_(state["images"].to(device))
        opt.state[images]["momentum_buffer"] = state["momentum"].to(device)
    net = build(cfg.model, ds.channels, K, ds.im_size).to(device)
    net.requires_grad_(False)
    dsa = DSA(cfg.dsa_strategy)
    groups_real = torch.arange(K, device=device).repeat_interleave(cfg.batch_real)
    use_amp = cfg.amp and (device.type == "cuda" or cpu_amp(cfg.amp_cpu, device))
    step_loss = functools.partial(matching_loss, dsa=dsa, num_classes=K, power=cfg.power, lam=cfg.lam, scale=cfg.scale,
                                  use_amp=use_amp, device_type=device.type)
    if cfg.compile:
        step_loss = torch.compile(step_loss, dynamic=False)
    pending: list[torch.Tensor] = []
    losses: list[float] = []
    t0 = time.perf_counter()
    for it in progress(range(start, cfg.iterations), initial=start, total=cfg.iterations):
        gen = generator(seed, device, "datadam-iter", it)
        if it % cfg.inner_steps == 0:  # a fresh random network (paper: every iteration)
            reinit_(net, generator(seed, device, "datadam-net", it // cfg.inner_steps))
        net.train()
        x_real = ds.normalize(x_train[sampler(cfg.batch_real, gen)])
        p = dsa.sample(K, ds.im_size, gen, device) if dsa.enabled else {}  # one siamese draw per class
        att, emb = step_loss(net, x_real, images, p, groups_real, labels)
        loss = att + emb
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        pending.append(torch.stack([loss.detach(), att.detach(), emb.detach()]))
        if cfg.net_steps:
            train_net_on_synthetic(net, images.detach(), labels, cfg, dsa, gen)
        done = it + 1
        if done % cfg.log_every == 0 or done == cfg.iterations:  # one host sync per log interval
            block = torch.stack(pending).cpu()
            pending.clear()
            if not torch.isfinite(block).all() or not torch.isfinite(images).all():
                where = f"; last good checkpoint: {ckpt_path}" if ckpt_path and ckpt_path.exists() else ""
                raise NonFiniteError(f"DataDAM loss or images became NaN/inf before iteration {done}{where}")
            losses.extend(block[:, 0].tolist())
            if on_log:
                m = block.mean(0).tolist()
                on_log(done, {"loss": m[0], "loss_attention": m[1], "loss_embedding": m[2]})
        if ckpt_path is not None and done % cfg.checkpoint_every == 0 and done < cfg.iterations:
            if torch.isfinite(images).all():
                checkpoint.save(ckpt_path, ckpt_key, done, images.detach(), opt.state[images]["momentum_buffer"])
    return Result(images.detach(), labels, init_images, losses, time.perf_counter() - t0, start)


def train_net_on_synthetic(net, images: torch.Tensor, labels: torch.Tensor, cfg: DataDAMSpec, dsa: DSA,
                           gen: torch.Generator) -> None:
    """The assignment schedule's inner loop: zeta SGD steps of the network on the synthetic set."""
    net.requires_grad_(True)
    opt = torch.optim.SGD(net.parameters(), lr=cfg.lr_net, momentum=0.5)
    for _ in range(cfg.net_steps):
        idx = torch.randperm(len(images), generator=gen, device=images.device)[: cfg.batch_train]
        x = dsa(images[idx], gen)
        loss = soft_cross_entropy(net(x), labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    net.requires_grad_(False)
