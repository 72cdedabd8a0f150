"""The synthetic-set protocol, batched over N evaluation models.

N freshly initialised networks train on a small labelled set (hard or soft labels) with DSA,
SGD (momentum 0.9, weight decay 5e-4) and the learning rate cut x0.1 at half the epochs, then
are tested on the real test set. SGD is elementwise, so one optimiser over the stacked
parameters (N, ...) is exactly N independent optimisers; each model keeps its own
initialisation, shuffling and augmentation.

Two layouts run the N models as one call:
- `vmap` (the CUDA default): `torch.func.vmap` over the stacked parameters; PyTorch lowers the
  batched convolutions to grouped convolutions, one kernel launch for all N models.
- `loop`: the N per-model forwards side by side in one function (optionally `torch.compile`d
  into one graph), so every convolution stays an ordinary oneDNN convolution.
On this 2-core CPU neither beats training the models one at a time (the CPU default), which
the compiled training step makes 1.14x faster end to end: the per-model work already fills both
cores, grouped convolutions run slower than N ordinary ones (benchmarks/results/grouped_conv_cpu.json),
and one compiled graph of N models costs more to compile than it saves
(benchmarks/results/evaluate_cpu_compiled.json).

The reported accuracy is the final iterate's. Nothing here looks at test data during training.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch.func import functional_call, stack_module_state, vmap
from torch.nn import functional as F

from src.augment import DSA
from src.config import ModelSpec
from src.models.registry import build
from src.runtime import autocast, cpu_amp, generator, seeded
from src.ui import progress


@dataclass
class Protocol:
    """Training settings for the evaluation models (mirrors config.EvalSpec)."""

    epochs: int = 300
    batch_size: int = 256
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    dsa_strategy: str = "color_crop_cutout_flip_scale_rotate"
    compile: bool = False  # torch.compile the training forward/backward (applied on the CPU only)
    dsa_op_per_sample: bool = False  # True: DSA's operation drawn per image instead of per minibatch (for comparisons)
    amp_cpu: bool = False  # bf16 autocast of the forward passes (CPU only; float32 where runtime.cpu_bf16() is false)


@dataclass
class EvalResult:
    accs: list[float]
    balanced_accs: list[float]
    aucs: list[float] | None
    seconds: float
    extra: dict = field(default_factory=dict)


@functools.lru_cache(maxsize=32)
def _template(spec: ModelSpec, channels: int, num_classes: int, im_size: tuple[int, int]) -> torch.nn.Module:
    """A stateless (meta) module per architecture and input shape. Shared by every ModelBatch of
    that shape, so a compiled forward is traced once and reused by every model of an evaluation."""
    with torch.device("meta"):  # no storage, and no draw from the global RNG
        return build(spec, channels, num_classes, im_size)


def _vmapped(base: torch.nn.Module):
    def call(p, b, x):
        return functional_call(base, (p, b), (x,))

    def forward(params, buffers, x, shared_input: bool):
        return vmap(call, in_dims=(0, 0, None if shared_input else 0), randomness="different")(params, buffers, x)

    return forward


def _looped(base: torch.nn.Module):
    def forward(params, buffers, x, shared_input: bool):
        n = next(iter(params.values())).shape[0]
        return torch.stack([functional_call(base, ({k: v[i] for k, v in params.items()},
                                                   {k: v[i] for k, v in buffers.items()}),
                                            (x if shared_input else x[i],)) for i in range(n)])

    return forward


@functools.lru_cache(maxsize=32)
def _forward(base: torch.nn.Module, layout: str, compiled: bool):
    fn = {"vmap": _vmapped, "loop": _looped}[layout](base)
    # dynamic=False: a run sees at most two batch shapes (full and last minibatch); static
    # shapes give the fastest kernels and never fall back to eager.
    return torch.compile(fn, dynamic=False) if compiled else fn


class ModelBatch:
    """N independently initialised copies of one architecture, run as a single model.

    layout: "vmap" (one vectorised call; default on CUDA) or "loop" (the N forwards side by side
    in one function; default on the CPU, where N is usually 1). compile: torch.compile the
    training-mode forward (and so its backward); evaluation-mode calls stay eager (run once)."""

    def __init__(self, spec: ModelSpec, channels: int, num_classes: int, im_size: tuple[int, int], n: int,
                 seed: int, device: torch.device, first: int = 0, layout: str | None = None, compile: bool = False):
        models = []
        for i in range(first, first + n):
            with seeded(seed, "eval-init", i):
                models.append(build(spec, channels, num_classes, im_size))
        self.params, self.buffers = stack_module_state(models)
        self.base = _template(spec, channels, num_classes, tuple(im_size))
        self.params = {k: v.to(device).detach().requires_grad_(True) for k, v in self.params.items()}
        self.buffers = {k: v.to(device) for k, v in self.buffers.items()}
        self.n = n
        self.layout = layout or ("vmap" if device.type == "cuda" else "loop")
        self.compile = compile
        self._training = True

    def __call__(self, x: torch.Tensor, shared_input: bool = False) -> torch.Tensor:
        """x: (N, b, c, h, w) per-model batches, or (b, c, h, w) shared by all models -> (N, b, K)."""
        self.base.train(self._training)  # the template is shared: set its mode on every call
        fn = _forward(self.base, self.layout, self.compile and self._training)
        return fn(self.params, self.buffers, x, shared_input)

    def train(self, mode: bool = True) -> "ModelBatch":
        self._training = mode
        return self


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against hard (int) or soft (probability) targets, mean over the batch."""
    if target.dtype.is_floating_point:
        return -(target * F.log_softmax(logits, -1)).sum(-1).mean()
    return F.cross_entropy(logits, target)


def train_models(models: ModelBatch, x: torch.Tensor, y: torch.Tensor, proto: Protocol, gen: torch.Generator,
                 lr: float | None = None, on_epoch: Callable[[int, ModelBatch], None] | None = None,
                 desc: str | None = None) -> list[float]:
    """Train the batch on (x, y). x: normalised float (n, c, h, w); y: int (n,) or soft (n, K).
    Returns the mean training loss per epoch (one host sync at the end). `on_epoch(epoch, models)`
    runs after every epoch (e.g. to record validation accuracy every few epochs). `desc` names a
    progress bar over the epochs (none without it: short trainings, as NAS trials, stay quiet)."""
    dsa = DSA(proto.dsa_strategy)
    amp = cpu_amp(proto.amp_cpu, x.device)
    opt = torch.optim.SGD(list(models.params.values()), lr=lr or proto.lr, momentum=proto.momentum,
                          weight_decay=proto.weight_decay)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[proto.epochs // 2], gamma=0.1)
    n, N = len(x), models.n
    models.train(True)
    history = []
    for epoch in progress(range(proto.epochs), desc=desc) if desc else range(proto.epochs):
        perm = torch.argsort(torch.rand(N, n, generator=gen, device=x.device), dim=1)
        total = torch.zeros((), device=x.device)
        for start in range(0, n, proto.batch_size):
            idx = perm[:, start:start + proto.batch_size]
            xb, yb = x[idx], y[idx]  # (N, b, ...)
            if dsa.enabled:
                # one DSA operation per model's minibatch, as if each were its own call
                xb = dsa(xb.flatten(0, 1), gen, None if proto.dsa_op_per_sample else N).view_as(xb)
            with autocast(x.device, cpu=amp):
                logits = models(xb)
                # mean over every (model, sample) pair x N == sum over models of each model's mean loss
                loss = soft_cross_entropy(logits.flatten(0, 1).float(), yb.flatten(0, 1)) * N
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
def predict(models: ModelBatch, x_uint8: torch.Tensor, normalize, batch: int = 1000, amp_cpu: bool = False) -> torch.Tensor:
    """Logits (N, n, K) of every model on uint8 images, in eval mode (float32; the forward under
    bf16 autocast when amp_cpu and on the CPU)."""
    models.train(False)
    device = models.params[next(iter(models.params))].device
    amp_cpu = cpu_amp(amp_cpu, device)
    out = []
    for start in range(0, len(x_uint8), batch):
        xb = normalize(x_uint8[start:start + batch].to(device))
        with autocast(device, cpu=amp_cpu):
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
                 device: torch.device, batched: bool | None = None, lr: float | None = None,
                 layout: str | None = None) -> EvalResult:
    """Train `n_models` fresh networks on (x, y) and test them.

    batched=True trains all N as one ModelBatch; False trains them one at a time through the
    same code (N=1 each, same seeds). None picks batched on CUDA (vmap: one launch instead of N)
    and one at a time on the CPU (fastest there; see the module docstring). `layout` overrides
    the device's layout. proto.compile compiles the training step on the CPU."""
    if batched is None:
        batched = device.type == "cuda"
    t0 = time.perf_counter()
    x, y, test_y = x.to(device), y.to(device), test_y.to(device)
    groups = [(0, n_models)] if batched else [(i, 1) for i in range(n_models)]
    logits = []
    for first, n in groups:
        models = ModelBatch(spec, x.shape[1], num_classes, tuple(x.shape[2:]), n, seed, device, first=first,
                            layout=layout, compile=proto.compile and device.type == "cpu")
        gen = generator(seed, device, "eval-train", first, n)
        train_models(models, x, y, proto, gen, lr=lr,
                     desc=f"evaluate model {first + 1}/{n_models}" if n == 1 else f"evaluate {n} models")
        logits.append(predict(models, test_x, normalize, amp_cpu=proto.amp_cpu))
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



def anchor_subset(labels: torch.Tensor, per_class: int, num_classes: int, seed: int, dataset: str) -> torch.Tensor:
    """The random real subset a distilled set of `per_class` images per class is compared with
    (stage random@<dataset>-ipc<per_class>); whatever scores "random real" uses these indices."""
    return random_subset(labels, per_class, num_classes, generator(seed, "cpu", "random-subset", dataset, per_class))
