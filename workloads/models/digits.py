"""The small CNN for 8x8 grey digits."""

from __future__ import annotations

import torch
from torch import nn

from workloads.models.parts import conv3x3, init_weights

__all__ = ["DigitsCNN", "digits_cnn"]


class DigitsCNN(nn.Module):
    """Three 3x3 conv-BN-ReLU layers, one 2x2 max-pool, global average pool, linear."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_channels, 32)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = conv3x3(32, 64)
        self.bn2 = nn.BatchNorm2d(64)
        self.pool = nn.MaxPool2d(2)
        self.conv3 = conv3x3(64, 128)
        self.bn3 = nn.BatchNorm2d(128)
        self.relu = nn.ReLU(inplace=True)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(128, num_classes)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.pool(self.relu(self.bn2(self.conv2(x))))
        x = self.relu(self.bn3(self.conv3(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def digits_cnn(*, num_classes: int = 10, in_channels: int = 1) -> nn.Module:
    """Small CNN for 8x8 single-channel digits (scikit-learn ``load_digits``).

    conv3x3(in->32)-BN-ReLU, conv3x3(32->64)-BN-ReLU, max-pool 2 (8->4),
    conv3x3(64->128)-BN-ReLU, global average pool, Linear(128->classes).
    Works for any input side >= 8.
    """
    return DigitsCNN(num_classes, in_channels)
