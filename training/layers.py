"""Finding the layers a sparsifier or recorder acts on, in any torch model.

Any ``nn.Conv2d`` or ``nn.Linear`` is "prunable"; batch norm and every other layer type
are left alone (SWAT never sparsifies BN).  Names are the module's qualified name in the
model (``"layer1.0.conv1"``), the same names traces and metrics use.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from accelsim.errors import ConfigError
from accelsim.spec.geometry import LayerGeometry

PRUNABLE_TYPES = (nn.Conv2d, nn.Linear)


def prunable_layers(model: nn.Module) -> OrderedDict[str, nn.Module]:
    """Conv2d and Linear modules of ``model`` in registration order, keyed by name.

    Raises ConfigError when the model has none (nothing to sparsify or record).
    """
    if not isinstance(model, nn.Module):
        raise ConfigError(f"expected a torch.nn.Module, got {type(model).__name__}")
    layers: OrderedDict[str, nn.Module] = OrderedDict(
        (name, module) for name, module in model.named_modules()
        if isinstance(module, PRUNABLE_TYPES))
    if not layers:
        raise ConfigError(f"model {type(model).__name__} has no Conv2d or Linear layer: "
                          "nothing to sparsify or record")
    return layers


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel/DataParallel wrapper (or itself)."""
    return getattr(model, "module", model) if isinstance(
        model, nn.parallel.DistributedDataParallel | nn.DataParallel) else model


def weight_geometry(name: str, module: nn.Module) -> LayerGeometry:
    """A :class:`LayerGeometry` carrying only what the weight determines (channels,
    kernel, groups): enough for weight counts and ERK scores without running the model.
    The spatial input is the smallest valid one (one output pixel)."""
    if isinstance(module, nn.Linear):
        return LayerGeometry(name=name, kind="linear", in_channels=module.in_features,
                             out_channels=module.out_features)
    if not isinstance(module, nn.Conv2d):
        raise ConfigError(f"layer {name}: {type(module).__name__} is not Conv2d or Linear")
    kh, kw = module.kernel_size
    dh, dw = module.dilation
    eh, ew = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    return LayerGeometry(name=name, kind="conv", in_channels=module.in_channels,
                         out_channels=module.out_channels, kernel_h=kh, kernel_w=kw,
                         dilation_h=dh, dilation_w=dw, groups=module.groups,
                         input_h=eh, input_w=ew, output_h=1, output_w=1)
