"""ConvNet: the standard dataset-distillation backbone (Gidaris & Komodakis; DC/DM/DataDAM).

Each block is conv3x3(width) -> norm -> activation -> pool(2). The classifier is one linear layer
on the flattened last block. `blocks(x)` returns every block's activation (after the
non-linearity, before pooling) and the embedding, so attention-matching methods read the
features in one forward pass instead of re-registering hooks every iteration.

Parameters are registered block by block (conv, then its norm), so `parameters()` runs from the
input to the output: PAD drops "the shallowest fraction" of that flattened order from its loss.
"""

from __future__ import annotations

import torch
from torch import nn

from src.models.layers import act_layer, norm_layer, pool_layer


def max_depth(im_size: int, pool: str = "avg") -> int:
    """Deepest ConvNet whose feature map stays at least 1x1 at this resolution."""
    if pool == "none":
        return 8
    d, s = 0, im_size
    while s // 2 >= 1 and d < 8:
        s //= 2
        d += 1
    return d


class Block(nn.Module):
    """conv3x3 -> norm -> activation (the block's feature map) -> pool."""

    def __init__(self, cin: int, width: int, norm: str, act: str, pool: str):
        super().__init__()
        self.conv = nn.Conv2d(cin, width, 3, padding=1)
        self.norm = norm_layer(norm, width)
        self.act = act_layer(act)
        self.pool = pool_layer(pool)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(feature map before pooling, pooled output)."""
        f = self.act(self.norm(self.conv(x)))
        return f, self.pool(f)


class ConvNet(nn.Module):
    def __init__(self, channels: int, num_classes: int, im_size: tuple[int, int], depth: int = 3, width: int = 128,
                 norm: str = "instance", act: str = "relu", pool: str = "avg"):
        super().__init__()
        if depth > max_depth(min(im_size), pool):
            raise ValueError(f"ConvNet depth {depth} shrinks a {im_size[0]}x{im_size[1]} input below 1x1 "
                             f"(at most {max_depth(min(im_size), pool)} blocks)")
        self.features = nn.ModuleList()
        c, h, w = channels, *im_size
        for _ in range(depth):
            self.features.append(Block(c, width, norm, act, pool))
            c = width
            if pool != "none":
                h, w = h // 2, w // 2
        self.embed_dim = c * h * w
        self.classifier = nn.Linear(self.embed_dim, num_classes)

    def blocks(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Per-block activations (pre-pool) and the flattened embedding."""
        feats = []
        for block in self.features:
            f, x = block(x)
            feats.append(f)
        return feats, x.flatten(1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(x))
