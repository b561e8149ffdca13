"""MobileNetV2 (Sandler et al., CVPR 2018), width 1.0."""

from __future__ import annotations

import torch
from torch import nn

from workloads.models.parts import conv1x1, conv3x3, init_weights

__all__ = ["InvertedResidual", "MobileNetV2", "mobilenetv2"]

#: (expansion t, output channels c, repeats n, first stride s), Sandler et al. Table 2.
_MBV2_SETTING: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)



class InvertedResidual(nn.Module):
    """Expand 1x1 (``conv1``, absent when t == 1), depthwise 3x3 (``conv2``), linear
    project 1x1 (``conv3``); identity residual when stride 1 and channels match."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        if expand != 1:
            self.conv1: nn.Conv2d | None = conv1x1(cin, hidden)
            self.bn1: nn.BatchNorm2d | None = nn.BatchNorm2d(hidden)
        else:
            self.conv1 = None
            self.bn1 = None
        self.conv2 = conv3x3(hidden, hidden, stride, groups=hidden)
        self.bn2 = nn.BatchNorm2d(hidden)
        self.conv3 = conv1x1(hidden, cout)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU6(inplace=True)
        self.use_residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        if self.conv1 is not None and self.bn1 is not None:
            out = self.relu(self.bn1(self.conv1(out)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return x + out if self.use_residual else out


class MobileNetV2(nn.Module):
    """MobileNetV2, width 1.0.

    Names: ``conv1``, ``blocks.{i}.conv1/2/3`` (``conv1`` absent when t == 1), ``conv_last``,
    ``fc``.
    """

    def __init__(self, *, cifar: bool, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_channels, 32, stride=1 if cifar else 2)
        self.bn1 = nn.BatchNorm2d(32)
        self.relu = nn.ReLU6(inplace=True)
        cin = 32
        blocks = []
        for row, (t, c, n, s) in enumerate(_MBV2_SETTING):
            first_stride = 1 if (cifar and row == 1) else s
            for j in range(n):
                blocks.append(InvertedResidual(cin, c, first_stride if j == 0 else 1, t))
                cin = c
        self.blocks = nn.Sequential(*blocks)
        self.conv_last = conv1x1(cin, 1280)
        self.bn_last = nn.BatchNorm2d(1280)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(1280, num_classes)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.blocks(x)
        x = self.relu(self.bn_last(self.conv_last(x)))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(self.dropout(x))


def mobilenetv2(*, num_classes: int = 10, in_channels: int = 3, cifar: bool = True) -> nn.Module:
    """MobileNetV2 (Sandler et al., "Inverted Residuals and Linear Bottlenecks", CVPR 2018).

    Width multiplier 1.0, the paper's (t, c, n, s) table, ReLU6, last 1x1 conv to
    1280, dropout 0.2 and Linear(1280, classes).  ``cifar=False``: first conv stride 2,
    224x224 inputs (~3.50M params with 1000 classes, ~300M MACs).  ``cifar=True`` (the
    common CIFAR adaptation) changes two strides and nothing else: the first 3x3 conv
    has stride 1 instead of 2 and the second table row (t=6, c=24) has stride 1
    instead of 2, so a 32x32 input reaches the last stage at 4x4 (total stride 8).
    """
    return MobileNetV2(cifar=cifar, num_classes=num_classes, in_channels=in_channels)
