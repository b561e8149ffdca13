"""DenseNet-BC-121 (Huang et al., CVPR 2017)."""

from __future__ import annotations

import torch
from torch import nn

from workloads.models.parts import conv1x1, conv3x3, init_weights

__all__ = ["DenseLayer", "DenseNet", "Transition", "densenet121"]


class DenseLayer(nn.Module):
    """BN-ReLU-conv1x1 (to 4*growth), BN-ReLU-conv3x3 (to growth); output is concatenated."""

    def __init__(self, cin: int, growth: int, bn_size: int = 4) -> None:
        super().__init__()
        mid = bn_size * growth
        self.bn1 = nn.BatchNorm2d(cin)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = conv1x1(cin, mid)
        self.bn2 = nn.BatchNorm2d(mid)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(mid, growth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.relu1(self.bn1(x)))
        out = self.conv2(self.relu2(self.bn2(out)))
        return torch.cat([x, out], 1)


class Transition(nn.Module):
    """BN-ReLU-conv1x1 (compression) followed by a 2x2 average pool."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(cin)
        self.relu = nn.ReLU(inplace=True)
        self.conv = conv1x1(cin, cout)
        self.pool = nn.AvgPool2d(2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.conv(self.relu(self.bn(x))))


class DenseNet(nn.Module):
    """DenseNet-BC.  Names: ``conv1``, ``block{i}.{j}.conv1/conv2``, ``trans{i}.conv``, ``fc``."""

    def __init__(
        self,
        blocks: list[int],
        *,
        growth: int = 32,
        compression: float = 0.5,
        cifar: bool,
        num_classes: int = 10,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        stem = 2 * growth
        if cifar:
            self.conv1 = conv3x3(in_channels, stem)
            self.maxpool = None
        else:
            self.conv1 = nn.Conv2d(in_channels, stem, 7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU(inplace=True)
        cin = stem
        self.num_blocks = len(blocks)
        for i, n in enumerate(blocks):
            layers = []
            for _ in range(n):
                layers.append(DenseLayer(cin, growth))
                cin += growth
            setattr(self, f"block{i + 1}", nn.Sequential(*layers))
            if i < len(blocks) - 1:
                cout = int(cin * compression)
                setattr(self, f"trans{i + 1}", Transition(cin, cout))
                cin = cout
        self.bn_final = nn.BatchNorm2d(cin)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        if self.maxpool is not None:
            x = self.maxpool(x)
        for i in range(self.num_blocks):
            x = getattr(self, f"block{i + 1}")(x)
            if i < self.num_blocks - 1:
                x = getattr(self, f"trans{i + 1}")(x)
        x = self.relu(self.bn_final(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def densenet121(*, num_classes: int = 10, in_channels: int = 3, cifar: bool = True) -> nn.Module:
    """DenseNet-BC-121 (Huang et al., "Densely Connected Convolutional Networks", CVPR 2017).

    Growth 32, dense blocks [6, 12, 24, 16] of bottleneck layers (BN-ReLU-1x1 conv to
    128, BN-ReLU-3x3 conv to 32), transitions with compression 0.5 and 2x2 average
    pooling.  ``cifar=False``: ImageNet 7x7/2 stem (64 channels), BN, ReLU, 3x3/2
    max-pool, 224x224 inputs (~7.98M params with 1000 classes, ~2.83 GMACs).
    ``cifar=True``: 3x3/1 stem with 2*growth = 64 channels and no max-pool.
    """
    return DenseNet(
        [6, 12, 24, 16],
        growth=32,
        compression=0.5,
        cifar=cifar,
        num_classes=num_classes,
        in_channels=in_channels,
    )
