"""Re-draw a model's weights in place from an explicit generator.

Distillation methods need a freshly initialised network every iteration. Re-initialising one
network in place (same distribution as PyTorch's defaults: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
for conv/linear weights and biases, norm layers reset to identity) avoids rebuilding modules,
keeps tensors on the device and makes the draw depend only on the generator.
"""

from __future__ import annotations

import math

import torch
from torch import nn


@torch.no_grad()
def reinit_(model: nn.Module, gen: torch.Generator) -> nn.Module:
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            bound = 1.0 / math.sqrt(fan_in)
            m.weight.uniform_(-bound, bound, generator=gen)
            if m.bias is not None:
                m.bias.uniform_(-bound, bound, generator=gen)
        elif isinstance(m, (nn.GroupNorm, nn.BatchNorm2d, nn.LayerNorm)):
            if getattr(m, "weight", None) is not None:
                m.weight.fill_(1.0)
                m.bias.zero_()
            if isinstance(m, nn.BatchNorm2d):
                m.reset_running_stats()
    return model
