"""A small zoo of image-classification CNNs written with ``torch.nn`` modules only.

Every network here is built from ``nn.Conv2d``, ``nn.Linear``, ``nn.BatchNorm2d``,
``nn.ReLU``/``nn.ReLU6``, pooling layers, ``nn.Dropout``, ``torch.cat`` and ``flatten``.
Each convolution and linear layer is a module attribute, so ``model.named_modules()``
yields stable dotted names (``conv1``, ``layer1.0.conv1``, ``layer1.0.shortcut.0``,
``fc`` ...) that trace and layer-table code can key on.  Convolutions that feed a
batch-norm layer have no bias; linear layers keep theirs.

Use :func:`build_model`.  It picks the CIFAR-style variant (3x3 stride-1 stem, no
stem max-pool) when ``input_size <= 64`` and the ImageNet-style variant otherwise.

Models (reference; params with 10 classes @32 / 1000 classes @224; conv+linear MACs):

=============  ==============================================  ===============================
name           reference                                       params, MACs
=============  ==============================================  ===============================
digits-cnn     small 3-conv CNN for 8x8 grey digits            94K (1 channel), 2.4M @8
resnet18       He et al., CVPR 2016                            11.17M, 0.56G @32; 1.82G @224
resnet20       He et al., CVPR 2016, sec. 4.2 (option B)       0.27M, 41M @32
resnet50       He et al. 2016, torchvision "v1.5" stride       23.5M, 1.30G @32; 25.6M, 4.09G
vgg16          Simonyan & Zisserman, ICLR 2015, config D + BN  14.7M, 313M @32; 138.4M, 15.5G
wrn16-8        Zagoruyko & Komodakis, BMVC 2016                11.0M, 1.55G @32
wrn28-10       Zagoruyko & Komodakis, BMVC 2016                36.5M, 5.24G @32
densenet121    Huang et al., CVPR 2017 (DenseNet-BC)           6.96M, 0.89G @32; 7.98M, 2.83G
mobilenetv2    Sandler et al., CVPR 2018, width 1.0            2.24M, 88M @32; 3.50M, 0.30G
=============  ==============================================  ===============================
"""

from __future__ import annotations

import torch
from torch import nn

from accelsim.errors import WorkloadError
from accelsim.networks.catalog import CIFAR_ONLY, MODEL_NAMES
from accelsim.numeric import require_int

__all__ = [
    "CIFAR_ONLY",
    "MODEL_NAMES",
    "build_model",
    "densenet121",
    "digits_cnn",
    "mobilenetv2",
    "resnet18",
    "resnet20",
    "resnet50",
    "vgg16",
    "wide_resnet",
]

#: Largest input side length that selects the CIFAR-style variant.
CIFAR_MAX_INPUT = 64


# --------------------------------------------------------------------------- helpers


def _conv3x3(cin: int, cout: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, groups=groups, bias=False)


def _conv1x1(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 1, stride=stride, bias=False)


def _init_weights(model: nn.Module) -> None:
    """He-normal convolutions, unit/zero batch norm, small-normal linear layers."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)


# --------------------------------------------------------------------------- digits CNN


class DigitsCNN(nn.Module):
    """Three 3x3 conv-BN-ReLU layers, one 2x2 max-pool, global average pool, linear."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        self.conv1 = _conv3x3(in_channels, 32)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = _conv3x3(32, 64)
        self.bn2 = nn.BatchNorm2d(64)
        self.pool = nn.MaxPool2d(2)
        self.conv3 = _conv3x3(64, 128)
        self.bn3 = nn.BatchNorm2d(128)
        self.relu = nn.ReLU(inplace=True)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(128, num_classes)
        _init_weights(self)

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


# --------------------------------------------------------------------------- ResNets


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity or 1x1 conv-BN projection shortcut."""

    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        cout = planes * self.expansion
        self.conv1 = _conv3x3(cin, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, cout)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(_conv1x1(cin, cout, stride), nn.BatchNorm2d(cout))

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
        self.conv1 = _conv1x1(cin, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = _conv1x1(planes, cout)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(_conv1x1(cin, cout, stride), nn.BatchNorm2d(cout))

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
            self.conv1 = _conv3x3(in_channels, stem_width)
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
        _init_weights(self)

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


# --------------------------------------------------------------------------- VGG

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
                layers += [_conv3x3(cin, cout), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
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
        _init_weights(self)

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


# --------------------------------------------------------------------------- Wide ResNet


class WideBasicBlock(nn.Module):
    """Pre-activation block: BN-ReLU-conv3x3, BN-ReLU-(dropout)-conv3x3.

    Where the shape changes, the shortcut is a 1x1 conv applied to the pre-activated
    input (``shortcut.0``); otherwise it is the identity on the raw input.
    """

    def __init__(self, cin: int, cout: int, stride: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = _conv3x3(cin, cout, stride)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu2 = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None
        self.conv2 = _conv3x3(cout, cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(_conv1x1(cin, cout, stride))

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
        self.conv1 = _conv3x3(in_channels, 16)
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
        _init_weights(self)

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


# --------------------------------------------------------------------------- DenseNet


class DenseLayer(nn.Module):
    """BN-ReLU-conv1x1 (to 4*growth), BN-ReLU-conv3x3 (to growth); output is concatenated."""

    def __init__(self, cin: int, growth: int, bn_size: int = 4) -> None:
        super().__init__()
        mid = bn_size * growth
        self.bn1 = nn.BatchNorm2d(cin)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = _conv1x1(cin, mid)
        self.bn2 = nn.BatchNorm2d(mid)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(mid, growth)

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
        self.conv = _conv1x1(cin, cout)
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
            self.conv1 = _conv3x3(in_channels, stem)
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
        _init_weights(self)

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


# --------------------------------------------------------------------------- MobileNetV2

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
            self.conv1: nn.Conv2d | None = _conv1x1(cin, hidden)
            self.bn1: nn.BatchNorm2d | None = nn.BatchNorm2d(hidden)
        else:
            self.conv1 = None
            self.bn1 = None
        self.conv2 = _conv3x3(hidden, hidden, stride, groups=hidden)
        self.bn2 = nn.BatchNorm2d(hidden)
        self.conv3 = _conv1x1(hidden, cout)
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
        self.conv1 = _conv3x3(in_channels, 32, stride=1 if cifar else 2)
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
        self.conv_last = _conv1x1(cin, 1280)
        self.bn_last = nn.BatchNorm2d(1280)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(1280, num_classes)
        _init_weights(self)

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


# --------------------------------------------------------------------------- build_model


def _min_input_size(name: str, cifar: bool) -> int:
    if name == "digits-cnn":
        return 8
    if not cifar:
        return 32
    # Five un-padded 2x2 max-pools: the CIFAR VGG needs at least 32 pixels per side.
    return 32 if name == "vgg16" else 16


def build_model(
    name: str, *, num_classes: int = 10, in_channels: int = 3, input_size: int = 32
) -> nn.Module:
    """Build model ``name`` (one of :data:`MODEL_NAMES`) for square inputs of side ``input_size``.

    The CIFAR-style variant is built when ``input_size <= 64``, the ImageNet-style one
    otherwise; models in :data:`CIFAR_ONLY` exist only in the CIFAR form.  The returned
    module is freshly initialised and in training mode.  Build it under
    ``with torch.device("meta"):`` to get shapes and parameter counts without memory.

    Raises :class:`~accelsim.errors.WorkloadError` for an unknown name, a CIFAR-only
    model with a large input, ``num_classes < 2``, ``in_channels < 1`` or an input
    too small for the network.
    """
    if name not in MODEL_NAMES:
        raise WorkloadError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    require_int(num_classes, "num_classes", 2, "a classifier needs num_classes >= 2",
                error=WorkloadError)
    require_int(in_channels, "in_channels", 1, "pass in_channels >= 1 (1 for grey, 3 for RGB)",
                error=WorkloadError)
    require_int(input_size, "input_size", 1, "pass the input side length in pixels, e.g. 32",
                error=WorkloadError)
    cifar = input_size <= CIFAR_MAX_INPUT
    if name in CIFAR_ONLY and not cifar:
        raise WorkloadError(
            f"model {name} is defined for 32x32 (CIFAR) inputs only, not input_size={input_size}; "
            f"pass input_size <= {CIFAR_MAX_INPUT} or use resnet18/resnet50 for large images"
        )
    smallest = _min_input_size(name, cifar)
    if input_size < smallest:
        raise WorkloadError(
            f"input_size={input_size} is too small for {name}; pass input_size >= {smallest}"
        )
    kw = {"num_classes": num_classes, "in_channels": in_channels}
    if name == "digits-cnn":
        return digits_cnn(**kw)
    if name == "resnet18":
        return resnet18(cifar=cifar, **kw)
    if name == "resnet20":
        return resnet20(**kw)
    if name == "resnet50":
        return resnet50(cifar=cifar, **kw)
    if name == "vgg16":
        return vgg16(cifar=cifar, **kw)
    if name == "wrn16-8":
        return wide_resnet(16, 8, **kw)
    if name == "wrn28-10":
        return wide_resnet(28, 10, **kw)
    if name == "densenet121":
        return densenet121(cifar=cifar, **kw)
    return mobilenetv2(cifar=cifar, **kw)
