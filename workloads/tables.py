"""Layer tables derived from torch models by shape propagation.

:func:`derive_layer_table` works on any model built from ``nn.Conv2d`` and ``nn.Linear``
(the user's own too): it runs one forward pass on the meta device (no memory, no
compute) with hooks on every conv/linear module and records, in execution order, the
geometry each one really saw.  ``python -m workloads.tables --write`` regenerates the
tables shipped in ``accelsim/networks/layer_tables/``.
"""

from __future__ import annotations

import argparse
import copy
import json
from collections.abc import Sequence

import torch
from torch import nn

from accelsim.errors import WorkloadError
from accelsim.fileio import atomic_write
from accelsim.networks.catalog import ModelInput, model_input, standard_pairs, table_path
from accelsim.spec.geometry import LayerGeometry
from workloads.models import build_model


def geometry_of(name: str, module: nn.Module, in_shape: Sequence[int],
                out_shape: Sequence[int]) -> LayerGeometry:
    """The :class:`LayerGeometry` of one conv/linear call given its input/output shapes."""
    if isinstance(module, nn.Conv2d):
        if len(in_shape) != 4:
            raise WorkloadError(f"layer {name}: Conv2d input has shape {list(in_shape)}, "
                                "expected [batch, channels, h, w]")
        if isinstance(module.padding, str):
            raise WorkloadError(f"layer {name}: padding={module.padding!r} is not supported; "
                                "give explicit integer padding")
        if module.padding_mode != "zeros":
            raise WorkloadError(f"layer {name}: padding_mode {module.padding_mode!r}; only zero "
                                "padding is modelled")
        return LayerGeometry(
            name=name, kind="conv", in_channels=module.in_channels,
            out_channels=module.out_channels, kernel_h=module.kernel_size[0],
            kernel_w=module.kernel_size[1], stride_h=module.stride[0], stride_w=module.stride[1],
            padding_h=module.padding[0], padding_w=module.padding[1],
            dilation_h=module.dilation[0], dilation_w=module.dilation[1], groups=module.groups,
            input_h=int(in_shape[2]), input_w=int(in_shape[3]),
            output_h=int(out_shape[2]), output_w=int(out_shape[3]))
    if isinstance(module, nn.Linear):
        if len(in_shape) != 2:
            raise WorkloadError(f"layer {name}: Linear input has shape {list(in_shape)}; only "
                                "[batch, features] inputs are modelled")
        return LayerGeometry(name=name, kind="linear", in_channels=module.in_features,
                             out_channels=module.out_features)
    raise WorkloadError(f"layer {name}: {type(module).__name__} is not a Conv2d or Linear")


def derive_layer_table(model: nn.Module, input_shape: Sequence[int]) -> tuple[LayerGeometry, ...]:
    """Geometry of every Conv2d/Linear call of ``model`` for one input of shape
    ``input_shape`` = (channels, h, w), in execution order.

    A module called more than once (weight sharing) appears once per call, the calls
    after the first named ``NAME#2``, ``NAME#3`` ...  The model itself is not changed.
    """
    if len(input_shape) != 3 or any(int(s) < 1 for s in input_shape):
        raise WorkloadError(f"input shape {list(input_shape)} must be (channels, h, w) > 0")
    meta_model = copy.deepcopy(model).to("meta")
    records: list[LayerGeometry] = []
    calls: dict[str, int] = {}
    handles = []

    def hook(name: str):
        def fn(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            calls[name] = calls.get(name, 0) + 1
            label = name if calls[name] == 1 else f"{name}#{calls[name]}"
            records.append(geometry_of(label, module, inputs[0].shape, output.shape))
        return fn

    for name, module in meta_model.named_modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            handles.append(module.register_forward_hook(hook(name)))
    if not handles:
        raise WorkloadError("the model has no Conv2d or Linear layer to trace")
    try:
        meta_model.eval()
        with torch.no_grad():
            meta_model(torch.empty((1, *map(int, input_shape)), device="meta"))
    except WorkloadError:
        raise
    except Exception as exc:  # noqa: BLE001 - a user's model may fail in many ways
        raise WorkloadError(f"the model cannot take an input of shape {list(input_shape)}: "
                            f"{type(exc).__name__}: {exc}") from None
    finally:
        for h in handles:
            h.remove()
    return tuple(records)


def model_layer_table(inp: ModelInput) -> tuple[LayerGeometry, ...]:
    """Build the zoo model for ``inp`` on the meta device and derive its table (the
    ``derive`` of :func:`accelsim.networks.catalog.layer_table`)."""
    with torch.device("meta"):
        model = build_model(inp.model, num_classes=inp.num_classes,
                            in_channels=inp.in_channels, input_size=inp.input_size)
    return derive_layer_table(model, (inp.in_channels, inp.input_size, inp.input_size))


def table_document(inp: ModelInput, layers: tuple[LayerGeometry, ...]) -> dict:
    return {"model": inp.model, "dataset": inp.dataset,
            "input": [inp.in_channels, inp.input_size, inp.input_size],
            "num_classes": inp.num_classes,
            "macs_per_sample": sum(g.macs_per_sample for g in layers),
            "layers": [g.to_dict() for g in layers]}


def write_standard_tables() -> list[str]:
    """Regenerate every shipped table (atomic writes)."""
    written = []
    for model, dataset in standard_pairs():
        inp = model_input(model, dataset)
        doc = table_document(inp, model_layer_table(inp))
        path = atomic_write(table_path(model, dataset), json.dumps(doc, indent=1) + "\n")
        written.append(str(path))
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate the shipped layer tables.")
    parser.add_argument("--write", action="store_true", help="rewrite accelsim/networks/layer_tables/")
    args = parser.parse_args(argv)
    if args.write:
        for path in write_standard_tables():
            print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
