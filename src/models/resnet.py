"""ResNet-18 (BasicBlock, [2, 2, 2, 2]) with a 3x3 stem for small images, and the ImageNet
7x7/stride-2 stem with max-pool for inputs of 128 pixels or more (MHIST at full resolution)."""

from torch import nn
from torch.nn import functional as F

from src.models.layers import norm_layer


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, norm: str):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = norm_layer(norm, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = norm_layer(norm, cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), norm_layer(norm, cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet18(nn.Module):
    def __init__(self, channels: int, num_classes: int, im_size: tuple[int, int], norm: str = "instance"):
        super().__init__()
        if min(im_size) >= 128:
            stem = [nn.Conv2d(channels, 64, 7, 2, 3, bias=False), norm_layer(norm, 64), nn.ReLU(inplace=True),
                    nn.MaxPool2d(3, 2, 1)]
        else:
            stem = [nn.Conv2d(channels, 64, 3, 1, 1, bias=False), norm_layer(norm, 64), nn.ReLU(inplace=True)]
        blocks, c = [], 64
        for width, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            blocks += [BasicBlock(c, width, stride, norm), BasicBlock(width, width, 1, norm)]
            c = width
        self.features = nn.Sequential(*stem, *blocks, nn.AdaptiveAvgPool2d(1))
        self.classifier = nn.Linear(512, num_classes)

    def embed(self, x):
        return self.features(x).flatten(1)

    def forward(self, x):
        return self.classifier(self.embed(x))
