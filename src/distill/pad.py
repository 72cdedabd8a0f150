"""PAD: Prioritize Alignment in Dataset Distillation (Li et al., arXiv 2408.03360).

Trajectory matching (src/distill/trajectory.py) against experts trained on an easy-to-hard
curriculum (src/distill/experts.py), with DATM's learnable soft labels and PAD's parameter
selection. Per iteration:

1. draw an expert and a start epoch t uniformly in [T-, T), where T grows linearly from
   `start_epoch` to `max_start_epoch` over `expand_iterations` iterations;
2. unroll N = `syn_steps` student steps from theta*_t on DSA-augmented minibatches of
   `batch_syn` synthetic images, with the learnable learning rate and soft labels;
3. loss = normalised distance to theta*_{t+M} over the deep parameters (the shallowest alpha
   fraction is dropped; alpha grows with images per class);
4. skip the update when the loss exceeds `threshold`; otherwise one SGD step on the images
   (momentum 0.5), the learning rate (momentum 0.5) and the label logits (momentum 0.9).

Synthetic images start from real images that an expert (at epoch `max_start_epoch`) classifies
correctly, and the soft labels from that expert's logits on them. Each iteration reads the loss
once (to skip or stop on NaN): one host sync per N student steps.
"""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from src.augment import DSA
from src.config import PADSpec
from src.data.store import Dataset
from src.distill import checkpoint
from src.distill.checkpoint import NonFiniteError
from src.distill.curriculum import rank_within_class
from src.distill.experts import Experts
from src.distill.trajectory import FlatNet, matching_grads, shallow_mask, trajectory_loss
from src.errors import UserError
from src.models.registry import build
from src.runtime import autocast, cpu_amp, derive_seed, generator

MIN_LR = 1e-6  # the learned student lr is kept positive: a negative step size has no meaning


@dataclass
class Result:
    images: torch.Tensor
    labels: torch.Tensor  # probabilities (n, K) with soft labels, else int (n,)
    lr: torch.Tensor
    init_images: torch.Tensor
    losses: list[float] = field(default_factory=list)
    skipped: int = 0
    seconds: float = 0.0
    resumed_from: int = 0
    peak_mem_mb: float = 0.0
    unroll: str = "full"
    init_fallback: int = 0


@torch.no_grad()
def initial_set(ds: Dataset, experts: Experts, ipc: int, epoch: int, seed: int,
                device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """(images, hard labels, expert logits, n_fallback): ipc random pool images per class that
    expert 0 at `epoch` classifies correctly, class-contiguous. A class with fewer correct images
    is filled with its lowest-loss misclassified ones; n_fallback counts them (reported)."""
    pool, _ = experts.difficulty()
    net = FlatNet(build(experts.model, ds.channels, ds.num_classes, ds.im_size).to(device))
    theta = experts.params(0, epoch, device)
    x = ds.normalize(ds.train.x[pool].to(device))
    y = ds.train.y[pool].to(device)
    logits = torch.cat([net(theta, x[s:s + 1000]) for s in range(0, len(x), 1000)])
    ce = torch.nn.functional.cross_entropy(logits, y, reduction="none").double().cpu()
    correct = (logits.argmax(1) == y).cpu()
    keys = torch.rand(len(y), generator=generator(seed, "cpu", "pad-init"), dtype=torch.float64)
    keys = torch.where(correct, keys, 2 + ce / (1 + ce.max()))  # correct first (random), then by loss
    rank, size = rank_within_class(keys, y.cpu(), ds.num_classes)
    if (torch.bincount(y.cpu(), minlength=ds.num_classes) < ipc).any():
        raise UserError(f"PAD init: a class has fewer than ipc={ipc} images in the experts' pool (enlarge pool_per_class)")
    pick = torch.nonzero(rank < ipc).flatten()
    pick = pick[torch.argsort(y.cpu()[pick], stable=True)].to(device)
    logits, y = logits[pick].clone(), y[pick]
    # a misclassified start gets its top logit swapped with its class's, so its soft label names its class
    rows, top = torch.arange(len(y), device=device), logits.argmax(1)
    true_logit, top_logit = logits[rows, y].clone(), logits[rows, top].clone()
    logits[rows, top], logits[rows, y] = true_logit, top_logit
    return x[pick].clone(), y.clone(), logits, int((~correct[pick.cpu()]).sum())


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def choose_unroll(setting: str, cfg: PADSpec, n_syn: int, net: FlatNet, x: torch.Tensor, device: torch.device) -> str:
    """`auto`: the full unroll when its activations fit in half the free memory. The estimate counts
    every block's activation of one sample, x8 as a deliberately generous allowance for the conv,
    norm, activation and pooling outputs the double backward keeps (a rule of thumb, not a fit:
    bench_pad.py logs the real peak of both paths)."""
    if setting != "auto":
        return setting
    with torch.no_grad():
        feats = net.module.blocks(x[:1])[0] if hasattr(net.module, "blocks") else [net.module(x[:1])]
    per_sample = sum(f.numel() for f in feats) * x.element_size() * 8
    need = cfg.syn_steps * min(cfg.batch_syn or n_syn, n_syn) * per_sample
    if device.type == "cuda":
        free = torch.cuda.mem_get_info(device)[0]
    else:
        import psutil

        free = psutil.virtual_memory().available
    return "full" if need < free / 2 else "checkpointed"


def draw_steps(n: int, steps: int, batch: int, dsa: DSA, size: tuple[int, int], gen: torch.Generator,
               device: torch.device) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One iteration's randomness, drawn up front: the image indices of all N student steps
    (steps, batch) in one call and their DSA parameters (steps * batch samples, one operation per
    step, as the reference draws one per minibatch) in another, instead
    of a generator, a permutation and a DSA draw per step (on a GPU, where a PAD iteration is bound
    by host work, every operation counts, and the unroll itself then draws no random numbers)."""
    idx = torch.rand(steps, n, generator=gen, device=device).argsort(1)[:, :batch]
    return idx, dsa.sample(steps * batch, size, gen, device, blocks=steps) if dsa.enabled else {}


class Minibatches:
    """The N student steps' minibatches of one iteration, from draw_steps' indices and DSA
    parameters. `at_once` augments all N x batch images (and softmaxes their labels) in one call
    each: the full unroll keeps all of them anyway. Otherwise step s is built when asked for, so the
    checkpointed unroll holds one step's graph at a time. `batch(s)` gives the same minibatch every
    time it is called, as matching_grads requires. `labels`: int classes, or logits when `soft`
    (softmaxed per row)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, soft: bool, dsa: DSA, idx: torch.Tensor,
                 params: dict[str, torch.Tensor], at_once: bool):
        self.images, self.labels, self.soft, self.dsa = images, labels, soft, dsa
        self.idx, self.params, self.batch = idx, params, idx.shape[1]
        self.at_once = self._build(0, idx.shape[0]) if at_once else None

    def _build(self, first: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(images, targets) of steps first..stop-1, shaped (steps, batch, ...)."""
        idx = self.idx[first:stop]
        # index_select, not images[idx]: across steps an image repeats, and on the CPU the backward of
        # advanced indexing sums repeated rows in a thread-dependent order (not reproducible run to run)
        x = self.images.index_select(0, idx.flatten())
        if self.dsa.enabled:
            lo, hi = first * self.batch, stop * self.batch
            x = self.dsa.apply(x, {k: (v if k == "cut_size" else v[lo:hi]) for k, v in self.params.items()})
        y = self.labels.index_select(0, idx.flatten()).unflatten(0, idx.shape)
        return x.unflatten(0, idx.shape), (y.softmax(-1) if self.soft else y)

    def __call__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.at_once is not None:
            return self.at_once[0][step], self.at_once[1][step]
        x, y = self._build(step, step + 1)
        return x[0], y[0]


def distill(ds: Dataset, experts: Experts, cfg: PADSpec, ipc: int, seed: int, device: torch.device,
            ckpt_path: Path | None = None, ckpt_key: str = "", on_log: Callable[[int, dict], None] | None = None,
            progress: Callable = lambda it, **kw: it) -> Result:
    K = ds.num_classes
    if cfg.max_start_epoch + cfg.expert_epochs > experts.epochs:
        raise UserError(f"distill.pad.{ds.name}: max_start_epoch + expert_epochs = "
                        f"{cfg.max_start_epoch + cfg.expert_epochs} exceeds the {experts.epochs} epochs the experts "
                        f"kept (raise experts.{ds.name}.keep_epochs)")
    net = FlatNet(build(experts.model, ds.channels, K, ds.im_size).to(device))
    init_images, hard, logits, fallback = initial_set(ds, experts, ipc, cfg.max_start_epoch, seed, device)
    images = init_images.clone().requires_grad_(True)
    label_logits = logits.clone().requires_grad_(cfg.soft_labels)
    lr = torch.tensor(cfg.lr_init or experts.lr_teacher, device=device, requires_grad=True)
    opt_img = torch.optim.SGD([images], lr=cfg.lr_img, momentum=cfg.momentum)
    opt_lr = torch.optim.SGD([lr], lr=cfg.lr_lr, momentum=cfg.momentum)
    opt_y = torch.optim.SGD([label_logits], lr=cfg.lr_y, momentum=cfg.momentum_y) if cfg.soft_labels else None
    opts = {"images": (opt_img, images), "lr": (opt_lr, lr), **({"labels": (opt_y, label_logits)} if opt_y else {})}
    start, skipped = 0, 0
    if ckpt_path is not None and (state := checkpoint.load(ckpt_path, ckpt_key, images.shape)) is not None:
        start, skipped = state["iteration"], int(state["skipped"])
        with torch.no_grad():
            images.copy_(state["images"].to(device))
            lr.copy_(state["lr"].to(device))
            label_logits.copy_(state["label_logits"].to(device))
        opt_img.state[images]["momentum_buffer"] = state["momentum"].to(device)
        for name, (opt, p) in opts.items():
            if f"mom_{name}" in state:
                opt.state[p]["momentum_buffer"] = state[f"mom_{name}"].to(device)
    mask = shallow_mask(net.sizes, cfg.alpha_for(ipc), cfg.mask_mode).to(device)
    dsa = DSA(cfg.dsa_strategy)
    n_syn = len(images)
    batch_syn = min(cfg.batch_syn or n_syn, n_syn)
    mode = choose_unroll(cfg.unroll, cfg, n_syn, net, images.detach(), device)
    losses: list[float] = []
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    amp_cpu = cpu_amp(cfg.amp_cpu, device)
    t0 = time.perf_counter()
    for it in progress(range(start, cfg.iterations), initial=start, total=cfg.iterations):
        pick = torch.Generator().manual_seed(derive_seed(seed, "pad-pick", it))
        upper = cfg.start_epoch + (cfg.max_start_epoch - cfg.start_epoch) * min(1.0, it / cfg.expand_iterations)
        upper = max(int(upper), cfg.min_start_epoch + 1)
        e = int(torch.randint(experts.n, (1,), generator=pick))
        t = int(torch.randint(cfg.min_start_epoch, upper, (1,), generator=pick))
        theta0, target = experts.params(e, t, device), experts.params(e, t + cfg.expert_epochs, device)

        with autocast(device, cpu=amp_cpu):  # the matching loss itself stays float32 (theta is)
            idx, dsa_params = draw_steps(n_syn, cfg.syn_steps, batch_syn, dsa, ds.im_size,
                                         generator(seed, device, "pad-iter", it), device)
            batch = Minibatches(images, label_logits if cfg.soft_labels else hard, cfg.soft_labels, dsa, idx, dsa_params,
                                at_once=(mode == "full"))
            loss, grads = matching_grads(net, theta0, batch, cfg.syn_steps, lr,
                                         lambda th: trajectory_loss(th, theta0, target, mask),
                                         [p for _, p in opts.values()], checkpointed=(mode == "checkpointed"))
        value = float(loss)
        if not torch.isfinite(loss) or not all(g is None or torch.isfinite(g).all() for g in grads):
            where = f"; last good checkpoint: {ckpt_path}" if ckpt_path and ckpt_path.exists() else ""
            raise NonFiniteError(f"PAD loss or gradients became NaN/inf at iteration {it + 1}{where}")
        losses.append(value)
        if value > cfg.threshold:
            skipped += 1
        else:
            for (opt, p), g in zip(opts.values(), grads):
                p.grad = g
                opt.step()
                p.grad = None
            with torch.no_grad():
                lr.clamp_(min=MIN_LR)
        done = it + 1
        if on_log and (done % cfg.log_every == 0 or done == cfg.iterations):
            recent = losses[-cfg.log_every:]
            on_log(done, {"loss": sum(recent) / len(recent), "syn_lr": float(lr.detach()), "skipped": skipped,
                          "start_epoch_upper": upper})
        if ckpt_path is not None and done % cfg.checkpoint_every == 0 and done < cfg.iterations:
            extra = {"lr": lr.detach(), "label_logits": label_logits.detach(), "skipped": torch.tensor(skipped)}
            extra.update({f"mom_{n}": opt.state[p]["momentum_buffer"] for n, (opt, p) in opts.items()
                          if "momentum_buffer" in opt.state[p] and n != "images"})
            checkpoint.save(ckpt_path, ckpt_key, done, images.detach(), opt_img.state[images].get("momentum_buffer"), **extra)
    labels = label_logits.detach().softmax(-1) if cfg.soft_labels else hard
    return Result(images.detach(), labels, lr.detach(), init_images, losses, skipped, time.perf_counter() - t0,
                  start, peak_memory_mb(device), mode, fallback)
