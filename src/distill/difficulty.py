"""EL2N difficulty scores (Paul et al., 2021), the ordering behind PAD's data curriculum.

    EL2N(x, y) = mean over K models of || softmax(f_k(x)) - onehot(y) ||_2

with each f_k trained briefly (a few epochs) from its own seed. Low scores are easy samples.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from src.augment import DSA
from src.config import ExpertSpec
from src.models.registry import build
from src.runtime import generator, seeded
from src.train import loss_step, sgd_pass


def el2n(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-sample L2 norm of the error vector softmax(logits) - onehot(labels)."""
    return (logits.float().softmax(-1) - F.one_hot(labels, logits.shape[-1]).float()).norm(dim=-1)


def train_briefly(x: torch.Tensor, y: torch.Tensor, spec: ExpertSpec, num_classes: int, seed: int, k: int,
                  progress=lambda it, **kw: it) -> torch.nn.Module:
    """One scoring model: spec.score_epochs of SGD (lr_teacher, momentum 0.9) with DSA on (x, y)."""
    device = x.device
    with seeded(seed, "el2n-init", k):
        net = build(spec.model, x.shape[1], num_classes, tuple(x.shape[2:])).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=spec.lr_teacher, momentum=0.9, weight_decay=5e-4)
    dsa, gen = DSA(spec.dsa_strategy), generator(seed, device, "el2n-train", k)
    step = loss_step(net, spec.batch_size, device, spec.compile, spec.amp_cpu)
    net.train()
    for _ in progress(range(spec.score_epochs), desc=f"EL2N model {k + 1}/{spec.score_models}"):
        perm = torch.randperm(len(x), generator=gen, device=device)
        sgd_pass(step, opt, x, y, perm, spec.batch_size, lambda xb: dsa(xb, gen))
    return net


@torch.no_grad()
def scores(x: torch.Tensor, y: torch.Tensor, spec: ExpertSpec, num_classes: int, seed: int,
           progress=lambda it, **kw: it, batch: int = 1000) -> torch.Tensor:
    """EL2N of every (x, y) averaged over spec.score_models briefly trained models (x normalised)."""
    total = torch.zeros(len(x), device=x.device)
    for k in range(spec.score_models):
        with torch.enable_grad():
            net = train_briefly(x, y, spec, num_classes, seed, k, progress)
        net.eval()
        total += torch.cat([el2n(net(x[s:s + batch]), y[s:s + batch]) for s in range(0, len(x), batch)])
    return total / spec.score_models
