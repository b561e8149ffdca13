"""VGG-16 with batch norm (Simonyan & Zisserman, ICLR 2015, config D)."""

from __future__ import annotations

import torch
from torch import nn

from workloads.models.parts import conv3x3, init_weights

__all__ = ["VGG", "vgg16"]

# fmt: off
_VGG16_CFG: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M",
)
# fmt: on


class VGG(nn.Module):
    """VGG with batch norm after every conv.

    ``features`` holds conv/BN/ReLU/max-pool modules (``features.0`` is the first conv).
    CIFAR head: global average pool (a no-op at 32x32, where the features are 1x1) and
    ``classifier = Linear(512, classes)``.  ImageNet head: adaptive average pool to
    7x7 and ``classifier = [Linear(25088, 4096), ReLU, Dropout, Linear(4096, 4096),
    ReLU, Dropout, Linear(4096, classes)]``.
    """

    def __init__(
        self,
        cfg: tuple[int | str, ...],
        *,
        cifar: bool,
        num_classes: int = 10,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_channels
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, stride=2))
            else:
                cout = int(v)
                layers += [conv3x3(cin, cout), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
                cin = cout
        self.features = nn.Sequential(*layers)
        if cifar:
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.classifier: nn.Module = nn.Linear(cin, num_classes)
        else:
            self.avgpool = nn.AdaptiveAvgPool2d(7)
            self.classifier = nn.Sequential(
                nn.Linear(cin * 7 * 7, 4096),
                nn.ReLU(inplace=True),
                nn.Dropout(0.5),
                nn.Linear(4096, 4096),
                nn.ReLU(inplace=True),
                nn.Dropout(0.5),
                nn.Linear(4096, num_classes),
            )
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def vgg16(*, num_classes: int = 10, in_channels: int = 3, cifar: bool = True) -> nn.Module:
    """VGG-16-BN (Simonyan & Zisserman, ICLR 2015, configuration D, plus batch norm).

    ``cifar=True``: 13 3x3 convs with five 2x2 max-pools and one Linear(512, classes)
    -- the CIFAR VGG-16 used in sparse-training papers (SWAT, sparse momentum);
    inputs >= 32 (~15.0M params, ~313M MACs at 32x32).  ``cifar=False``: the
    ImageNet network with the 3-layer 4096-wide classifier (~138.4M params with
    1000 classes, ~15.5 GMACs at 224x224).
    """
    return VGG(_VGG16_CFG, cifar=cifar, num_classes=num_classes, in_channels=in_channels)
