"""VGG-11 with a single linear classifier, as used in dataset-distillation benchmarks."""

from torch import nn

from src.models.layers import norm_layer

CFG11 = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


class VGG11(nn.Module):
    def __init__(self, channels: int, num_classes: int, im_size: tuple[int, int], norm: str = "instance"):
        super().__init__()
        layers, c = [], channels
        first_pad = 3 if min(im_size) <= 28 else 1  # lift 28x28 to 32x32 so five poolings end at 1x1
        for i, v in enumerate(CFG11):
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(c, v, 3, padding=first_pad if i == 0 else 1), norm_layer(norm, v), nn.ReLU(inplace=True)]
                c = v
        layers.append(nn.AdaptiveAvgPool2d(1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(512, num_classes)

    def embed(self, x):
        return self.features(x).flatten(1)

    def forward(self, x):
        return self.classifier(self.embed(x))
