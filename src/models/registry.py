"""One registry that builds any architecture by name from a ModelSpec, and reports its size."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from src.config import ModelSpec
from src.models.alexnet import AlexNet
from src.models.convnet import ConvNet
from src.models.lenet import MLP, LeNet
from src.models.resnet import ResNet18
from src.models.vgg import VGG11

Builder = Callable[[ModelSpec, int, int, tuple[int, int]], nn.Module]

REGISTRY: dict[str, Builder] = {
    "convnet": lambda s, c, k, im: ConvNet(c, k, im, s.depth, s.width, s.norm, s.act, s.pool),
    "alexnet": lambda s, c, k, im: AlexNet(c, k, im, norm="none"),
    "vgg11": lambda s, c, k, im: VGG11(c, k, im, norm=s.norm),
    "resnet18": lambda s, c, k, im: ResNet18(c, k, im, norm=s.norm),
    "resnet18_bn": lambda s, c, k, im: ResNet18(c, k, im, norm="batch"),
    "lenet": lambda s, c, k, im: LeNet(c, k, im),
    "mlp": lambda s, c, k, im: MLP(c, k, im, width=s.width),
}


def build(spec: ModelSpec, channels: int, num_classes: int, im_size: tuple[int, int]) -> nn.Module:
    return REGISTRY[spec.name](spec, channels, num_classes, tuple(im_size))


def describe(spec: ModelSpec) -> str:
    """Short human name, e.g. ConvNet-3 (w128, instance)."""
    if spec.name == "convnet":
        return f"ConvNet-{spec.depth} (w{spec.width}, {spec.norm}, {spec.act}, {spec.pool})"
    return spec.name


def complexity(model: nn.Module, channels: int, im_size: tuple[int, int]) -> dict[str, int]:
    """Parameter count and multiply-accumulates for one image (convolutions and linear layers)."""
    params = sum(p.numel() for p in model.parameters())
    was_training = model.training
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, channels, *im_size, device=next(model.parameters()).device))
    model.train(was_training)
    return {"params": int(params), "macs": int(counter.get_total_flops() // 2)}
