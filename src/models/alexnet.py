"""AlexNet, the small-image variant used for cross-architecture tests in dataset distillation."""

from torch import nn

from src.models.layers import norm_layer


class AlexNet(nn.Module):
    def __init__(self, channels: int, num_classes: int, im_size: tuple[int, int], norm: str = "none"):
        super().__init__()
        pad = 4 if min(im_size) <= 28 else 2  # 28x28 digits are padded to behave like 32x32

        def conv(cin, cout, k, p):
            return [nn.Conv2d(cin, cout, k, padding=p), norm_layer(norm, cout), nn.ReLU(inplace=True)]

        self.features = nn.Sequential(
            *conv(channels, 128, 5, pad), nn.MaxPool2d(2),
            *conv(128, 192, 5, 2), nn.MaxPool2d(2),
            *conv(192, 256, 3, 1), *conv(256, 192, 3, 1), *conv(192, 192, 3, 1), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(4),
        )
        self.classifier = nn.Linear(192 * 4 * 4, num_classes)

    def embed(self, x):
        return self.features(x).flatten(1)

    def forward(self, x):
        return self.classifier(self.embed(x))
