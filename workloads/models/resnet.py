"""ResNets (He et al., CVPR 2016): ResNet-18/-50 (CIFAR and ImageNet stems) and the CIFAR ResNet-20."""

from __future__ import annotations

import torch
from torch import nn

from workloads.models.parts import conv1x1, conv3x3, init_weights

__all__ = ["BasicBlock", "Bottleneck", "ResNet", "resnet18", "resnet20", "resnet50"]


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity or 1x1 conv-BN projection shortcut."""

    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        cout = planes * self.expansion
        self.conv1 = conv3x3(cin, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, cout)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(conv1x1(cin, cout, stride), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (carries the stride, "v1.5"), 1x1 expand by 4; projection shortcut."""

    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        cout = planes * self.expansion
        self.conv1 = conv1x1(cin, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, cout)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(conv1x1(cin, cout, stride), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """Generic post-activation ResNet.

    ``imagenet_stem=True``: 7x7/2 conv (pad 3), BN, ReLU, 3x3/2 max-pool (pad 1).
    ``imagenet_stem=False``: 3x3/1 conv (pad 1), BN, ReLU, no max-pool.
    Stage ``i`` is ``layer{i+1}``; its first block carries stride ``strides[i]``.
    """

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        blocks_per_stage: list[int],
        widths: list[int],
        strides: list[int],
        *,
        stem_width: int,
        imagenet_stem: bool,
        num_classes: int = 10,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        if imagenet_stem:
            self.conv1 = nn.Conv2d(in_channels, stem_width, 7, stride=2, padding=3, bias=False)
        else:
            self.conv1 = conv3x3(in_channels, stem_width)
        self.bn1 = nn.BatchNorm2d(stem_width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1) if imagenet_stem else None
        cin = stem_width
        self.num_stages = len(blocks_per_stage)
        for i, (n, width, stride) in enumerate(zip(blocks_per_stage, widths, strides, strict=True)):
            layers = []
            for j in range(n):
                layers.append(block(cin, width, stride if j == 0 else 1))
                cin = width * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*layers))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        if self.maxpool is not None:
            x = self.maxpool(x)
        for i in range(self.num_stages):
            x = getattr(self, f"layer{i + 1}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18(*, num_classes: int = 10, in_channels: int = 3, cifar: bool = True) -> nn.Module:
    """ResNet-18 (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016).

    Four stages of two BasicBlocks (64, 128, 256, 512 channels; strides 1, 2, 2, 2),
    1x1 conv-BN projection shortcut where the shape changes.  ``cifar=True``: 3x3/1
    stem, no max-pool, for 32x32 inputs (~11.17M params, ~0.56 GMACs).  ``cifar=False``:
    ImageNet 7x7/2 stem plus max-pool, for 224x224 inputs (~1.82 GMACs).
    """
    return ResNet(
        BasicBlock,
        [2, 2, 2, 2],
        [64, 128, 256, 512],
        [1, 2, 2, 2],
        stem_width=64,
        imagenet_stem=not cifar,
        num_classes=num_classes,
        in_channels=in_channels,
    )


def resnet20(*, num_classes: int = 10, in_channels: int = 3) -> nn.Module:
    """CIFAR ResNet-20 (He et al. 2016, section 4.2), for 32x32 inputs only.

    3x3 conv to 16 channels, three stages of three BasicBlocks (16, 32, 64 channels;
    strides 1, 2, 2), 1x1 conv-BN projection shortcuts where the shape changes
    (option B), global average pool, fc.  ~0.27M params, ~41M MACs.
    """
    return ResNet(
        BasicBlock,
        [3, 3, 3],
        [16, 32, 64],
        [1, 2, 2],
        stem_width=16,
        imagenet_stem=False,
        num_classes=num_classes,
        in_channels=in_channels,
    )


def resnet50(*, num_classes: int = 10, in_channels: int = 3, cifar: bool = True) -> nn.Module:
    """ResNet-50 (He et al. 2016) with the stride on the 3x3 conv (torchvision "v1.5").

    Bottleneck blocks [3, 4, 6, 3] (widths 64, 128, 256, 512, expansion 4),
    projection shortcut on the first block of each stage.  ``cifar=False``: ImageNet
    7x7/2 stem plus max-pool, 224x224 inputs (~25.56M params with 1000 classes,
    ~4.09 GMACs).  ``cifar=True``: 3x3/1 stem, no max-pool, 32x32 inputs.
    """
    return ResNet(
        Bottleneck,
        [3, 4, 6, 3],
        [64, 128, 256, 512],
        [1, 2, 2, 2],
        stem_width=64,
        imagenet_stem=not cifar,
        num_classes=num_classes,
        in_channels=in_channels,
    )
