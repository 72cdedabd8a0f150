"""ConvNet: the standard dataset-distillation backbone (Gidaris & Komodakis; DC/DM/DataDAM).

Each block is conv3x3(width) -> norm -> activation -> pool(2). The classifier is one linear layer
on the flattened last block. `blocks(x)` returns every block's activation (after the
non-linearity, before pooling) and the embedding, so attention-matching methods read the
features in one forward pass instead of re-registering hooks every iteration.
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


class ConvNet(nn.Module):
    def __init__(self, channels: int, num_classes: int, im_size: tuple[int, int], depth: int = 3, width: int = 128,
                 norm: str = "instance", act: str = "relu", pool: str = "avg"):
        super().__init__()
        if depth > max_depth(min(im_size), pool):
            raise ValueError(f"ConvNet depth {depth} shrinks a {im_size[0]}x{im_size[1]} input below 1x1 "
                             f"(at most {max_depth(min(im_size), pool)} blocks)")
        self.convs, self.norms, self.acts, self.pools = (nn.ModuleList() for _ in range(4))
        c, h, w = channels, *im_size
        for _ in range(depth):
            self.convs.append(nn.Conv2d(c, width, 3, padding=1))
            self.norms.append(norm_layer(norm, width))
            self.acts.append(act_layer(act))
            self.pools.append(pool_layer(pool))
            c = width
            if pool != "none":
                h, w = h // 2, w // 2
        self.embed_dim = c * h * w
        self.classifier = nn.Linear(self.embed_dim, num_classes)

    def blocks(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Per-block activations (pre-pool) and the flattened embedding."""
        feats = []
        for conv, norm, act, pool in zip(self.convs, self.norms, self.acts, self.pools):
            x = act(norm(conv(x)))
            feats.append(x)
            x = pool(x)
        return feats, x.flatten(1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(x))
