"""A small zoo of image-classification CNNs written with ``torch.nn`` modules only.

Every network here is built from ``nn.Conv2d``, ``nn.Linear``, ``nn.BatchNorm2d``,
``nn.ReLU``/``nn.ReLU6``, pooling layers, ``nn.Dropout``, ``torch.cat`` and ``flatten``.
Each convolution and linear layer is a module attribute, so ``model.named_modules()``
yields stable dotted names (``conv1``, ``layer1.0.conv1``, ``layer1.0.shortcut.0``,
``fc`` ...) that trace and layer-table code can key on.  Convolutions that feed a
batch-norm layer have no bias; linear layers keep theirs.

Use :func:`build_model`; one module per family (:mod:`.resnet`, :mod:`.vgg`,
:mod:`.wide_resnet`, :mod:`.densenet`, :mod:`.mobilenet`, :mod:`.digits`).  It picks the CIFAR-style variant (3x3 stride-1 stem, no
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

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from accelsim.errors import WorkloadError
from accelsim.networks.catalog import CIFAR_MAX_INPUT, CIFAR_ONLY, MODEL_NAMES, check_model
from accelsim.numeric import require_int
from workloads.models.densenet import densenet121
from workloads.models.digits import digits_cnn
from workloads.models.mobilenet import mobilenetv2
from workloads.models.resnet import resnet18, resnet20, resnet50
from workloads.models.vgg import vgg16
from workloads.models.wide_resnet import wide_resnet

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


@dataclass(frozen=True)
class _Family:
    """How one model name is built: ``build(cifar, num_classes=, in_channels=)`` and the
    smallest input side (pixels) of its CIFAR and ImageNet variants."""

    build: Callable[..., nn.Module]
    min_cifar: int = 16
    min_imagenet: int = 32


_BUILDERS: dict[str, _Family] = {
    "digits-cnn": _Family(lambda cifar, **kw: digits_cnn(**kw), 8, 8),
    "resnet18": _Family(lambda cifar, **kw: resnet18(cifar=cifar, **kw)),
    "resnet20": _Family(lambda cifar, **kw: resnet20(**kw)),
    "resnet50": _Family(lambda cifar, **kw: resnet50(cifar=cifar, **kw)),
    # five un-padded 2x2 max-pools: the CIFAR VGG needs at least 32 pixels per side
    "vgg16": _Family(lambda cifar, **kw: vgg16(cifar=cifar, **kw), 32),
    "wrn16-8": _Family(lambda cifar, **kw: wide_resnet(16, 8, **kw)),
    "wrn28-10": _Family(lambda cifar, **kw: wide_resnet(28, 10, **kw)),
    "densenet121": _Family(lambda cifar, **kw: densenet121(cifar=cifar, **kw)),
    "mobilenetv2": _Family(lambda cifar, **kw: mobilenetv2(cifar=cifar, **kw)),
}
assert tuple(_BUILDERS) == MODEL_NAMES, "every catalog model name has exactly one builder"


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
    family = _BUILDERS[check_model(name)]
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
    smallest = family.min_cifar if cifar else family.min_imagenet
    if input_size < smallest:
        raise WorkloadError(
            f"input_size={input_size} is too small for {name}; pass input_size >= {smallest}"
        )
    return family.build(cifar, num_classes=num_classes, in_channels=in_channels)
