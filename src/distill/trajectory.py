"""The maths of trajectory matching (MTT, Cazenavette et al. 2022; PAD, Li et al. 2024), as pure functions.

A student starts from an expert's parameters theta*_t, takes N SGD steps on minibatches of the
synthetic set with a learnable learning rate, and should land where the expert was M epochs later:

    loss = sum_i m_i (theta_N - theta*_{t+M})_i^2  /  sum_i m_i (theta*_t - theta*_{t+M})_i^2

m is PAD's parameter selection: 0 for the shallowest alpha fraction of the flattened parameters
(or the shallowest whole layers), 1 for the rest. The gradient reaches the images, the soft
labels and the learning rate through all N steps (second-order terms included). Two exact ways:

* `full`: keep the graph of all N steps (memory grows with N x batch activations);
* `checkpointed`: run the N steps without a graph, keeping only the N parameter vectors, then walk
  back one step at a time, recomputing that step's graph and pulling the adjoint through it
  (memory of one step; about 1.5x the compute). Both give the same gradients (tested).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.func import functional_call

from src.protocol import soft_cross_entropy

BatchFn = Callable[[int], tuple[torch.Tensor, torch.Tensor]]


class FlatNet:
    """A module evaluated at a flat parameter vector (shallowest layer first)."""

    def __init__(self, module: nn.Module):
        self.module = module
        self.names = [n for n, _ in module.named_parameters()]
        self.shapes = [p.shape for p in module.parameters()]
        self.sizes = [p.numel() for p in module.parameters()]

    @property
    def n_params(self) -> int:
        return sum(self.sizes)

    def __call__(self, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        parts = torch.split(theta, self.sizes)
        return functional_call(self.module, {n: p.view(s) for n, p, s in zip(self.names, parts, self.shapes)}, (x,))


def shallow_mask(sizes: list[int], alpha: float, mode: str = "flat") -> torch.Tensor:
    """Boolean mask over the flattened parameters, False for the dropped shallow part.

    flat:  drop the first floor(alpha * P) entries, cutting through a layer if need be (PAD's depth mask);
    layer: drop whole parameter tensors from the shallow end, as many as keeps the dropped count
           nearest to alpha * P (never every tensor)."""
    total = sum(sizes)
    keep = torch.ones(total, dtype=torch.bool)
    if alpha <= 0:
        return keep
    if mode == "flat":
        keep[: int(alpha * total)] = False
        return keep
    if mode != "layer":
        raise ValueError(f"mask mode {mode!r} is not one of flat, layer")
    bounds = torch.cumsum(torch.tensor([0, *sizes]), 0)[:-1]  # candidate cut points (drop tensors before)
    cut = int(bounds[(bounds.double() - alpha * total).abs().argmin()])
    keep[:cut] = False
    return keep


def trajectory_loss(theta_n: torch.Tensor, start: torch.Tensor, target: torch.Tensor,
                    mask: torch.Tensor | None = None) -> torch.Tensor:
    """Normalised parameter distance over the selected parameters. The mask weighs entries by 0/1
    rather than indexing them out: boolean indexing reads the selected count back to the host, a
    sync per iteration on a GPU, and one that a CUDA graph cannot hold."""
    num, den = (theta_n - target) ** 2, (start - target) ** 2
    if mask is not None:
        num, den = num * mask, den * mask
    return num.sum() / den.sum()


def student_step(net: FlatNet, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor, lr: torch.Tensor,
                 create_graph: bool = True) -> torch.Tensor:
    """theta - lr * grad_theta CE(net(theta, x), y); y hard (int) or soft (probabilities)."""
    loss = soft_cross_entropy(net(theta, x), y)
    (grad,) = torch.autograd.grad(loss, theta, create_graph=create_graph)
    return theta - lr * grad


def unroll(net: FlatNet, theta0: torch.Tensor, batch: BatchFn, steps: int, lr: torch.Tensor) -> torch.Tensor:
    """theta_N with the graph of every step kept (the `full` path)."""
    theta = theta0.detach().requires_grad_(True)
    for s in range(steps):
        x, y = batch(s)
        theta = student_step(net, theta, x, y, lr)
    return theta


def matching_grads(net: FlatNet, theta0: torch.Tensor, batch: BatchFn, steps: int, lr: torch.Tensor,
                   loss_fn: Callable[[torch.Tensor], torch.Tensor], leaves: list[torch.Tensor],
                   checkpointed: bool = False) -> tuple[torch.Tensor, list[torch.Tensor | None]]:
    """(loss, d loss / d leaf for each leaf) for loss = loss_fn(theta_N); `batch(s)` must give the
    same minibatch for step s every time it is called (it is called twice per step when checkpointed)."""
    if not checkpointed:
        loss = loss_fn(unroll(net, theta0, batch, steps, lr))
        return loss.detach(), list(torch.autograd.grad(loss, leaves, allow_unused=True))
    thetas = [theta0.detach()]
    for s in range(steps):  # forward: parameters only, no graph
        with torch.no_grad():
            x, y = batch(s)
        theta = thetas[-1].clone().requires_grad_(True)
        thetas.append(student_step(net, theta, x, y, lr.detach(), create_graph=False).detach())
    theta_n = thetas[-1].requires_grad_(True)
    loss = loss_fn(theta_n)
    (adjoint,) = torch.autograd.grad(loss, theta_n)
    grads: list[torch.Tensor | None] = [None] * len(leaves)
    for s in reversed(range(steps)):  # backward: one step's graph at a time
        theta = thetas[s].clone().requires_grad_(True)
        x, y = batch(s)
        nxt = student_step(net, theta, x, y, lr)
        got = torch.autograd.grad(nxt, [theta, *leaves], grad_outputs=adjoint, allow_unused=True)
        adjoint = got[0]
        grads = [g if a is None else (a if g is None else g + a) for g, a in zip(grads, got[1:])]
    return loss.detach(), grads
