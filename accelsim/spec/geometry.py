"""Layer geometry: the record every part of accelsim agrees on.

A network is a tuple of :class:`LayerGeometry` records, derived from the torch model by
shape propagation (``workloads.tables``) and carried in every trace.  The record is
frozen and validated; it computes nothing in its constructor.  Derived counts (MACs,
operand shapes) are properties.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from accelsim.errors import GeometryError

LAYER_KINDS = ("conv", "linear")


def conv_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Output length of a convolution along one axis:
    ``floor((size + 2*padding - dilation*(kernel-1) - 1) / stride) + 1``."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


@dataclass(frozen=True)
class LayerGeometry:
    """One convolution or linear layer (a linear layer is a 1x1 conv on a 1x1 image).

    Spatial sizes are in pixels; ``input_h/w`` are the unpadded input sizes.
    """

    name: str
    kind: str
    in_channels: int
    out_channels: int
    kernel_h: int = 1
    kernel_w: int = 1
    stride_h: int = 1
    stride_w: int = 1
    padding_h: int = 0
    padding_w: int = 0
    dilation_h: int = 1
    dilation_w: int = 1
    groups: int = 1
    input_h: int = 1
    input_w: int = 1
    output_h: int = 1
    output_w: int = 1

    def __post_init__(self) -> None:
        where = f"layer {self.name!r}"
        if not isinstance(self.name, str) or not self.name:
            raise GeometryError("layer name must be a non-empty string")
        if self.kind not in LAYER_KINDS:
            raise GeometryError(f"{where}: kind {self.kind!r} is not one of {LAYER_KINDS}")
        for f in fields(self):
            if f.name in ("name", "kind"):
                continue
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise GeometryError(f"{where}: {f.name} must be an integer, got {value!r}")
            minimum = 0 if f.name.startswith("padding") else 1
            if value < minimum:
                raise GeometryError(f"{where}: {f.name} = {value} must be >= {minimum}")
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise GeometryError(
                f"{where}: groups = {self.groups} must divide in_channels = {self.in_channels} "
                f"and out_channels = {self.out_channels}"
            )
        if self.kind == "linear":
            spatial = (self.kernel_h, self.kernel_w, self.stride_h, self.stride_w,
                       self.dilation_h, self.dilation_w, self.groups, self.input_h,
                       self.input_w, self.output_h, self.output_w)
            if any(v != 1 for v in spatial) or self.padding_h or self.padding_w:
                raise GeometryError(f"{where}: a linear layer has 1x1 kernel, stride, "
                                    "image and no padding or groups")
        for axis in ("h", "w"):
            want = conv_output_size(getattr(self, f"input_{axis}"), getattr(self, f"kernel_{axis}"),
                                    getattr(self, f"stride_{axis}"), getattr(self, f"padding_{axis}"),
                                    getattr(self, f"dilation_{axis}"))
            got = getattr(self, f"output_{axis}")
            if got != want:
                raise GeometryError(f"{where}: output_{axis} = {got} does not follow from the input, "
                                    f"kernel, stride, padding and dilation (expected {want})")

    # ---- derived counts -------------------------------------------------------------
    @property
    def reduction_size(self) -> int:
        """Products per output value: ``in_channels/groups * kernel_h * kernel_w``."""
        return self.in_channels // self.groups * self.kernel_h * self.kernel_w

    @property
    def macs_per_sample(self) -> int:
        """Dense forward MACs for one sample:
        ``out_channels * output_h * output_w * in_channels/groups * kernel_h * kernel_w``."""
        return self.out_channels * self.output_h * self.output_w * self.reduction_size

    @property
    def weight_count(self) -> int:
        return self.out_channels * self.reduction_size

    def weight_shape(self) -> tuple[int, ...]:
        """``[out, in/groups, kh, kw]`` for conv, ``[out, in]`` for linear."""
        if self.kind == "linear":
            return (self.out_channels, self.in_channels)
        return (self.out_channels, self.in_channels // self.groups, self.kernel_h, self.kernel_w)

    def activation_shape(self, batch: int) -> tuple[int, ...]:
        """Input activation: ``[batch, in, input_h, input_w]`` (conv) or ``[batch, in]``."""
        if self.kind == "linear":
            return (batch, self.in_channels)
        return (batch, self.in_channels, self.input_h, self.input_w)

    def grad_shape(self, batch: int) -> tuple[int, ...]:
        """Output gradient: ``[batch, out, output_h, output_w]`` (conv) or ``[batch, out]``."""
        if self.kind == "linear":
            return (batch, self.out_channels)
        return (batch, self.out_channels, self.output_h, self.output_w)

    def operand_shape(self, role: str, batch: int) -> tuple[int, ...]:
        if role == "weight":
            return self.weight_shape()
        if role == "activation":
            return self.activation_shape(batch)
        if role == "grad":
            return self.grad_shape(batch)
        raise GeometryError(f"unknown operand role {role!r}; use weight, activation or grad")

    # ---- (de)serialisation ------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["macs"] = self.macs_per_sample
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LayerGeometry:
        """Build from a dict (extra keys such as ``macs`` are checked, not trusted)."""
        if not isinstance(data, dict):
            raise GeometryError(f"layer geometry must be a mapping, got {type(data).__name__}")
        names = {f.name for f in fields(cls)}
        missing = [n for n in ("name", "kind", "in_channels", "out_channels") if n not in data]
        if missing:
            raise GeometryError(f"layer geometry {data.get('name', '?')!r} lacks {', '.join(missing)}")
        unknown = set(data) - names - {"macs"}
        if unknown:
            raise GeometryError(f"layer geometry {data.get('name', '?')!r} has unknown keys "
                                f"{sorted(unknown)}")
        geom = cls(**{k: v for k, v in data.items() if k in names})
        if "macs" in data and data["macs"] != geom.macs_per_sample:
            raise GeometryError(f"layer {geom.name!r}: macs = {data['macs']} disagrees with its "
                                f"shape ({geom.macs_per_sample})")
        return geom


def network_macs(layers: tuple[LayerGeometry, ...] | list[LayerGeometry]) -> int:
    """Dense forward MACs per sample of a whole network (sum over its layers)."""
    return sum(layer.macs_per_sample for layer in layers)
