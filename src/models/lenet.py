"""LeNet-5 style network and a two-hidden-layer MLP: the weakest cross-architecture baselines."""

import math

from torch import nn


class LeNet(nn.Module):
    def __init__(self, channels: int, num_classes: int, im_size: tuple[int, int]):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 6, 5, padding=2 if min(im_size) <= 28 else 0), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2), nn.AdaptiveAvgPool2d(5),
        )
        self.head = nn.Sequential(nn.Linear(16 * 25, 120), nn.ReLU(inplace=True), nn.Linear(120, 84), nn.ReLU(inplace=True))
        self.classifier = nn.Linear(84, num_classes)

    def embed(self, x):
        return self.head(self.features(x).flatten(1))

    def forward(self, x):
        return self.classifier(self.embed(x))


class MLP(nn.Module):
    def __init__(self, channels: int, num_classes: int, im_size: tuple[int, int], width: int = 128):
        super().__init__()
        d = channels * math.prod(im_size)
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(d, width), nn.ReLU(inplace=True),
                                  nn.Linear(width, width), nn.ReLU(inplace=True))
        self.classifier = nn.Linear(width, num_classes)

    def embed(self, x):
        return self.body(x)

    def forward(self, x):
        return self.classifier(self.embed(x))
