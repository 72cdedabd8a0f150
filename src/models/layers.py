"""Building blocks shared by the architectures: normalisation, activation and pooling by name."""

from __future__ import annotations

from torch import nn


def norm_layer(kind: str, channels: int) -> nn.Module:
    """`instance` is GroupNorm(C, C) as in the dataset-distillation ConvNet: it has no running
    statistics, so it behaves identically in train and eval mode and batches cleanly over models."""
    if kind == "none":
        return nn.Identity()
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.GroupNorm(channels, channels, affine=True)
    if kind == "group":
        return nn.GroupNorm(min(4, channels), channels, affine=True)
    if kind == "layer":
        return nn.GroupNorm(1, channels, affine=True)
    raise ValueError(f"unknown norm {kind!r}")


def act_layer(kind: str) -> nn.Module:
    return {"relu": nn.ReLU, "leakyrelu": lambda: nn.LeakyReLU(0.01), "gelu": nn.GELU, "sigmoid": nn.Sigmoid}[kind]()


def pool_layer(kind: str) -> nn.Module:
    return {"avg": lambda: nn.AvgPool2d(2, 2), "max": lambda: nn.MaxPool2d(2, 2), "none": nn.Identity}[kind]()
