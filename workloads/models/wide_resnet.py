"""Wide ResNets (Zagoruyko & Komodakis, BMVC 2016): WRN-16-8, WRN-28-10."""

from __future__ import annotations

import torch
from torch import nn

from accelsim.errors import WorkloadError
from workloads.models.parts import conv1x1, conv3x3, init_weights

__all__ = ["WideBasicBlock", "WideResNet", "wide_resnet"]


class WideBasicBlock(nn.Module):
    """Pre-activation block: BN-ReLU-conv3x3, BN-ReLU-(dropout)-conv3x3.

    Where the shape changes, the shortcut is a 1x1 conv applied to the pre-activated
    input (``shortcut.0``); otherwise it is the identity on the raw input.
    """

    def __init__(self, cin: int, cout: int, stride: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = conv3x3(cin, cout, stride)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu2 = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None
        self.conv2 = conv3x3(cout, cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(conv1x1(cin, cout, stride))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = self.relu1(self.bn1(x))
        residual = x if self.shortcut is None else self.shortcut(act)
        out = self.relu2(self.bn2(self.conv1(act)))
        if self.dropout is not None:
            out = self.dropout(out)
        return self.conv2(out) + residual


class WideResNet(nn.Module):
    """WRN-d-k: 3x3 conv to 16, three stages of (d-4)/6 blocks, final BN-ReLU, pool, fc."""

    def __init__(
        self,
        depth: int,
        width: int,
        *,
        num_classes: int = 10,
        in_channels: int = 3,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        n = (depth - 4) // 6
        widths = [16 * width, 32 * width, 64 * width]
        self.conv1 = conv3x3(in_channels, 16)
        cin = 16
        for i, (cout, stride) in enumerate(zip(widths, [1, 2, 2], strict=True)):
            blocks = []
            for j in range(n):
                blocks.append(WideBasicBlock(cin, cout, stride if j == 0 else 1, dropout))
                cin = cout
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.bn = nn.BatchNorm2d(cin)
        self.relu = nn.ReLU(inplace=True)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        x = self.layer3(self.layer2(self.layer1(x)))
        x = self.relu(self.bn(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def wide_resnet(
    depth: int,
    width: int,
    *,
    num_classes: int = 10,
    in_channels: int = 3,
    dropout: float = 0.0,
) -> nn.Module:
    """Wide ResNet WRN-``depth``-``width`` (Zagoruyko & Komodakis, BMVC 2016), CIFAR inputs.

    ``depth`` must satisfy ``(depth - 4) % 6 == 0``; each of the three stages has
    ``(depth - 4) / 6`` pre-activation blocks of width 16k, 32k, 64k (strides 1, 2, 2).
    ``dropout`` (paper: 0.3) sits between the two convs of every block.
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 10 or (depth - 4) % 6:
        raise WorkloadError(
            f"wide_resnet depth={depth!r} is invalid; use a depth with (depth - 4) % 6 == 0 "
            "and depth >= 10, e.g. 16, 22, 28 or 40"
        )
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise WorkloadError(f"wide_resnet width={width!r} is invalid; use an integer >= 1")
    if not 0.0 <= dropout < 1.0:
        raise WorkloadError(f"wide_resnet dropout={dropout!r} is invalid; use 0 <= dropout < 1")
    return WideResNet(
        depth, width, num_classes=num_classes, in_channels=in_channels, dropout=dropout
    )
