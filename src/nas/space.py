"""The architecture search space: ConvNet depth x width x normalisation x activation x pooling.

Combinations whose feature map would shrink below 1x1 are excluded up front.
"""

from __future__ import annotations

import itertools

from src.config import ModelSpec, NASSpace
from src.models.convnet import max_depth


def arch_key(spec: ModelSpec) -> str:
    return f"d{spec.depth}-w{spec.width}-{spec.norm}-{spec.act}-{spec.pool}"


def grid(space: NASSpace, im_size: int) -> list[ModelSpec]:
    out = []
    for depth, width, norm, act, pool in itertools.product(space.depth, space.width, space.norm, space.act, space.pool):
        if depth <= max_depth(im_size, pool):
            out.append(ModelSpec(name="convnet", depth=depth, width=width, norm=norm, act=act, pool=pool))
    return out


def choices(space: NASSpace, im_size: int) -> dict[str, list]:
    """Optuna categorical choices per dimension (only values that occur in a valid architecture)."""
    valid = grid(space, im_size)
    return {k: sorted({getattr(s, k) for s in valid}, key=str) for k in ("depth", "width", "norm", "act", "pool")}
