"""Full-data training: one model, SGD with momentum, cosine annealing per step.

Short enough to read top to bottom. Images stay uint8 in memory and are normalised per
minibatch on the device; the loss is accumulated on the device and read once per epoch.
"""

from __future__ import annotations

import time
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from src.config import TrainSpec
from src.data.store import Dataset, Split
from src.runtime import autocast, cpu_amp, generator
from src.ui import progress

LossStep = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def forward_loss(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    logits = net(x)
    return logits, F.cross_entropy(logits.float(), y)


# One compiled function for the process, the network an argument: dynamo treats its parameters as
# inputs, so every network of one architecture (each expert, each EL2N model) reuses one graph
# (10 networks, 1 graph compiled: torch._dynamo's counters, torch 2.14).
compiled_forward_loss = torch.compile(forward_loss, dynamic=False)


def loss_step(net: nn.Module, batch_size: int, device: torch.device, compile: bool = False,
              amp_cpu: bool = False) -> LossStep:
    """(x, y) -> (logits, cross-entropy) for one network in training mode. On the CPU, optionally
    torch.compile'd and under bf16 autocast (the loss in float32). Only full-size minibatches run
    compiled: the last, shorter one of an epoch runs eager instead of compiling a second graph
    (the curriculum changes its size every epoch)."""
    fast = compiled_forward_loss if compile and device.type == "cpu" else forward_loss
    amp_cpu = cpu_amp(amp_cpu, device)

    def step(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with autocast(device, cpu=amp_cpu):
            return (fast if len(x) == batch_size else forward_loss)(net, x, y)

    return step


def sgd_pass(step: LossStep, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, order: torch.Tensor,
             batch_size: int, augment: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
    """One pass of minibatch SGD with cross-entropy (`step`, from loss_step) over x[order]
    (normalised images, int labels), `augment` applied to every minibatch (e.g. DSA). Used by the
    PAD experts and the EL2N models."""
    for start in range(0, len(order), batch_size):
        b = order[start:start + batch_size]
        xb = x[b] if augment is None else augment(x[b])
        _, loss = step(xb, y[b])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


@torch.no_grad()
def accuracy(model: nn.Module, split: Split, ds: Dataset, device: torch.device, channels_last: bool = False,
             batch: int = 1000) -> tuple[float, torch.Tensor]:
    """Top-1 accuracy in percent and the logits, in eval mode."""
    model.eval()
    logits = []
    for start in range(0, len(split), batch):
        x = ds.normalize(split.x[start:start + batch].to(device))
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        logits.append(model(x).float())
    logits = torch.cat(logits)
    return float((logits.argmax(1).cpu() == split.y).float().mean() * 100), logits


def fit(model: nn.Module, ds: Dataset, spec: TrainSpec, seed: int, device: torch.device,
        on_epoch: Callable[[int, dict], None] | None = None) -> dict:
    """Train on ds.train, reporting per-epoch loss/accuracy and val accuracy; returns the last epoch's row."""
    channels_last = spec.channels_last and device.type == "cuda"  # on CPU channels-last measured slower
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=spec.lr, momentum=spec.momentum, weight_decay=spec.weight_decay)
    n = len(ds.train)
    steps_per_epoch = (n + spec.batch_size - 1) // spec.batch_size
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=spec.epochs * steps_per_epoch)
    gen = generator(seed, "cpu", "baseline-shuffle")
    x_all, y_all = ds.train.x.to(device), ds.train.y.to(device)
    step = loss_step(model, spec.batch_size, device, spec.compile, spec.amp_cpu)
    t0 = time.perf_counter()
    for epoch in range(spec.epochs):
        model.train()
        perm = torch.randperm(n, generator=gen).to(device)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device)
        for start in progress(range(0, n, spec.batch_size), desc=f"epoch {epoch + 1}/{spec.epochs}"):
            idx = perm[start:start + spec.batch_size]
            x, y = ds.normalize(x_all[idx]), y_all[idx]
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            logits, loss = step(x, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.detach() * len(idx)
            correct += (logits.detach().argmax(1) == y).sum()
        row = {"train_loss": float(loss_sum) / n, "train_acc": float(correct) / n * 100,
               "lr": sched.get_last_lr()[0], "elapsed_s": time.perf_counter() - t0}
        if len(ds.val):
            row["val_acc"] = accuracy(model, ds.val, ds, device, channels_last)[0]
        if on_epoch:
            on_epoch(epoch, row)
    return {"train_seconds": time.perf_counter() - t0, **{f"final_{k}": v for k, v in row.items()}}
