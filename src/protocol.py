"""The synthetic-set protocol, batched over N evaluation models.

N freshly initialised networks train on a small labelled set (hard or soft labels) with DSA,
SGD (momentum 0.9, weight decay 5e-4) and the learning rate cut x0.1 at half the epochs, then
are tested on the real test set. The N models run as one vectorised forward (`torch.func.vmap`
over stacked parameters; PyTorch lowers the batched convolutions to grouped convolutions), each
with its own initialisation, shuffling and augmentation. SGD is elementwise, so one optimiser
over the stacked parameters is exactly N independent optimisers.

The reported accuracy is the final iterate's. Nothing here looks at test data during training.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch.func import functional_call, stack_module_state, vmap
from torch.nn import functional as F

from src.augment import DSA
from src.config import ModelSpec
from src.models.registry import build
from src.runtime import generator, seeded


@dataclass
class Protocol:
    """Training settings for the evaluation models (mirrors config.EvalSpec)."""

    epochs: int = 300
    batch_size: int = 256
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    dsa_strategy: str = "color_crop_cutout_flip_scale_rotate"


@dataclass
class EvalResult:
    accs: list[float]
    balanced_accs: list[float]
    aucs: list[float] | None
    seconds: float
    extra: dict = field(default_factory=dict)


class ModelBatch:
    """N independently initialised copies of one architecture, run as a single vectorised model."""

    def __init__(self, spec: ModelSpec, channels: int, num_classes: int, im_size: tuple[int, int], n: int,
                 seed: int, device: torch.device, first: int = 0):
        models = []
        for i in range(first, first + n):
            with seeded(seed, "eval-init", i):
                models.append(build(spec, channels, num_classes, im_size))
        self.params, self.buffers = stack_module_state(models)
        self.base = models[0].to("meta")  # a stateless template; the weights live in params/buffers
        self.params = {k: v.to(device).detach().requires_grad_(True) for k, v in self.params.items()}
        self.buffers = {k: v.to(device) for k, v in self.buffers.items()}
        self.n = n

        def call(p, b, x):
            return functional_call(self.base, (p, b), (x,))

        self._call = call

    def __call__(self, x: torch.Tensor, shared_input: bool = False) -> torch.Tensor:
        """x: (N, b, c, h, w) per-model batches, or (b, c, h, w) shared by all models -> (N, b, K)."""
        return vmap(self._call, in_dims=(0, 0, None if shared_input else 0), randomness="different")(
            self.params, self.buffers, x)

    def train(self, mode: bool = True) -> "ModelBatch":
        self.base.train(mode)
        return self


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against hard (int) or soft (probability) targets, mean over the batch."""
    if target.dtype.is_floating_point:
        return -(target * F.log_softmax(logits, -1)).sum(-1).mean()
    return F.cross_entropy(logits, target)


def train_models(models: ModelBatch, x: torch.Tensor, y: torch.Tensor, proto: Protocol, gen: torch.Generator,
                 lr: float | None = None, on_epoch: Callable[[int, ModelBatch], None] | None = None) -> list[float]:
    """Train the batch on (x, y). x: normalised float (n, c, h, w); y: int (n,) or soft (n, K).
    Returns the mean training loss per epoch (one host sync at the end). `on_epoch(epoch, models)`
    runs after every epoch (e.g. to record validation accuracy every few epochs)."""
    dsa = DSA(proto.dsa_strategy)
    opt = torch.optim.SGD(list(models.params.values()), lr=lr or proto.lr, momentum=proto.momentum,
                          weight_decay=proto.weight_decay)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[proto.epochs // 2], gamma=0.1)
    n, N = len(x), models.n
    models.train(True)
    history = []
    for epoch in range(proto.epochs):
        perm = torch.argsort(torch.rand(N, n, generator=gen, device=x.device), dim=1)
        total = torch.zeros((), device=x.device)
        for start in range(0, n, proto.batch_size):
            idx = perm[:, start:start + proto.batch_size]
            xb, yb = x[idx], y[idx]  # (N, b, ...)
            if dsa.enabled:
                xb = dsa(xb.flatten(0, 1), gen).view_as(xb)
            logits = models(xb)
            # mean over every (model, sample) pair x N == sum over models of each model's mean loss
            loss = soft_cross_entropy(logits.flatten(0, 1), yb.flatten(0, 1)) * N
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total = total + loss.detach() / N
        sched.step()
        history.append(total)
        if on_epoch is not None:
            on_epoch(epoch, models)
            models.train(True)
    return [float(v) for v in torch.stack(history).cpu()] if history else []


@torch.no_grad()
def predict(models: ModelBatch, x_uint8: torch.Tensor, normalize, batch: int = 1000) -> torch.Tensor:
    """Logits (N, n, K) of every model on uint8 images, in eval mode."""
    models.train(False)
    out = []
    for start in range(0, len(x_uint8), batch):
        xb = normalize(x_uint8[start:start + batch].to(models.params[next(iter(models.params))].device))
        out.append(models(xb, shared_input=True).float())
    return torch.cat(out, 1)


def binary_auc(score: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """ROC AUC per row of score (N, n) for binary labels y (n,), by the Mann-Whitney rank statistic (ties averaged)."""
    order = score.argsort(1)
    srt = score.gather(1, order)
    ranks = torch.empty_like(score)
    for r in range(score.shape[0]):  # one row per model: a handful of iterations
        _, inv, counts = torch.unique_consecutive(srt[r], return_inverse=True, return_counts=True)
        mean_rank = counts.cumsum(0).to(score.dtype) - (counts.to(score.dtype) - 1) / 2
        ranks[r, order[r]] = mean_rank[inv]
    pos = y == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return (ranks[:, pos].sum(1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def classification_metrics(logits: torch.Tensor, y: torch.Tensor, num_classes: int) -> dict[str, list[float]]:
    """Accuracy and balanced accuracy per model (and ROC AUC for two classes), in percent / [0,1]."""
    pred = logits.argmax(-1)  # (N, n)
    correct = (pred == y).float()
    acc = correct.mean(1) * 100
    recalls = torch.stack([correct[:, y == c].mean(1) for c in range(num_classes) if (y == c).any()], 1)
    out = {"acc": acc.tolist(), "balanced_acc": (recalls.mean(1) * 100).tolist()}
    if num_classes == 2:
        out["auc"] = binary_auc(logits.softmax(-1)[..., 1].double(), y).tolist()
    return out


def evaluate_set(x: torch.Tensor, y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor, normalize,
                 spec: ModelSpec, num_classes: int, proto: Protocol, n_models: int, seed: int,
                 device: torch.device, batched: bool | None = None, lr: float | None = None) -> EvalResult:
    """Train `n_models` fresh networks on (x, y) and test them.

    batched=True trains all N as one vmapped model; False trains them one at a time through the
    same code (N=1 each, same seeds). None picks by device: batched on CUDA, where it removes
    N-fold kernel-launch overhead; one at a time on the CPU, where PyTorch lowers the batched
    convolutions to grouped convolutions that oneDNN runs slower than N ordinary ones
    (measured: benchmarks/results/evaluate_cpu.json)."""
    if batched is None:
        batched = device.type == "cuda"
    t0 = time.perf_counter()
    x, y, test_y = x.to(device), y.to(device), test_y.to(device)
    groups = [(0, n_models)] if batched else [(i, 1) for i in range(n_models)]
    logits = []
    for first, n in groups:
        models = ModelBatch(spec, x.shape[1], num_classes, tuple(x.shape[2:]), n, seed, device, first=first)
        gen = generator(seed, device, "eval-train", first, n)
        train_models(models, x, y, proto, gen, lr=lr)
        logits.append(predict(models, test_x, normalize))
    m = classification_metrics(torch.cat(logits, 0), test_y, num_classes)
    return EvalResult(m["acc"], m["balanced_acc"], m.get("auc"), time.perf_counter() - t0)


def random_subset(labels: torch.Tensor, per_class: int, num_classes: int, gen: torch.Generator) -> torch.Tensor:
    """Indices of `per_class` random examples of every class (vectorised, seeded)."""
    keys = torch.rand(len(labels), generator=gen)
    # sort by (class, random key) and take the first per_class of each class
    order = torch.argsort(labels.cpu().double() * 2 + keys.double())
    sorted_labels = labels.cpu()[order]
    starts = torch.searchsorted(sorted_labels, torch.arange(num_classes))
    counts = torch.bincount(sorted_labels, minlength=num_classes)
    if (counts < per_class).any():
        c = int(torch.nonzero(counts < per_class)[0])
        raise ValueError(f"class {c} has {int(counts[c])} examples, fewer than {per_class} requested")
    idx = starts.view(-1, 1) + torch.arange(per_class).view(1, -1)
    return order[idx.flatten()]

