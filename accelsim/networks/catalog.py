"""Names and shapes of the zoo's models and data sets, and their shipped layer tables.

This module is stdlib only; it is the one definition of the model names, the CIFAR-only set
and the data sets (the torch zoo, :mod:`workloads.models`, imports them from here).  Layer
tables of the standard (model, data set) pairs are derived from the torch models by
``python -m workloads.tables --write`` and shipped as JSON under
``accelsim/networks/layer_tables/``; a test re-derives every one of them and compares, so they
are never typed by hand.  Other input sizes must be derived from the torch model: the caller
passes a ``derive`` function (``workloads.tables.model_layer_table``), so that the simulator
never imports torch.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from accelsim.errors import WorkloadError
from accelsim.spec.geometry import LayerGeometry

MODEL_NAMES: tuple[str, ...] = ("digits-cnn", "resnet18", "resnet20", "resnet50", "vgg16",
                                "wrn16-8", "wrn28-10", "densenet121", "mobilenetv2")
CIFAR_ONLY = frozenset({"resnet20", "wrn16-8", "wrn28-10"})
#: Largest input side (pixels) that selects a model's CIFAR-style variant.
CIFAR_MAX_INPUT = 64
TABLE_DIR = Path(__file__).resolve().parent / "layer_tables"


@dataclass(frozen=True)
class DatasetSpec:
    """A data set's image shape (channels x size x size pixels) and class count."""

    name: str
    channels: int
    image_size: int
    num_classes: int
    description: str


DATASETS: dict[str, DatasetSpec] = {
    "digits": DatasetSpec("digits", 1, 8, 10, "sklearn's 1797 real 8x8 handwritten digits "
                          "(ships with scikit-learn; offline default); resized to the model's "
                          "input"),
    "cifar10": DatasetSpec("cifar10", 3, 32, 10, "CIFAR-10 from a local python-pickle "
                           "directory (cifar10:PATH)"),
    "cifar100": DatasetSpec("cifar100", 3, 32, 100, "CIFAR-100 from a local python-pickle "
                            "directory (cifar100:PATH)"),
    "imagenet": DatasetSpec("imagenet", 3, 224, 1000, "ImageNet shapes (224x224); data only "
                            "when a path is given"),
    "synthetic": DatasetSpec("synthetic", 3, 32, 10, "seeded random images for tests"),
}


@dataclass(frozen=True)
class ModelInput:
    """What a model is built for: input channels, square input size (pixels), classes."""

    model: str
    dataset: str
    in_channels: int
    input_size: int
    num_classes: int


def check_model(model: str) -> str:
    if model not in MODEL_NAMES:
        raise WorkloadError(f"unknown model {model!r}; choose one of {', '.join(MODEL_NAMES)}")
    return model


def check_dataset(dataset: str) -> DatasetSpec:
    name = dataset.split(":", 1)[0]
    if name not in DATASETS:
        raise WorkloadError(f"unknown data set {dataset!r}; choose one of {', '.join(DATASETS)}")
    return DATASETS[name]


def model_input(model: str, dataset: str, input_size: int | None = None) -> ModelInput:
    """The input a model gets on a data set.  ``digits`` (8x8) is upscaled to 32x32 for
    every model except ``digits-cnn``; ``synthetic`` takes the model's small size."""
    check_model(model)
    spec = check_dataset(dataset)
    channels = spec.channels
    if model == "digits-cnn" and spec.name == "synthetic":
        channels = 1  # the synthetic set mimics digits for the digits CNN
    if input_size is None:
        if model == "digits-cnn" and spec.name in ("digits", "synthetic"):
            input_size = 8
        elif spec.name == "digits":
            input_size = 32
        else:
            input_size = spec.image_size
    if isinstance(input_size, bool) or not isinstance(input_size, int) or input_size < 1:
        raise WorkloadError(f"input size {input_size!r} must be a positive integer (pixels)")
    if model in CIFAR_ONLY and input_size > CIFAR_MAX_INPUT:
        raise WorkloadError(f"{model} is defined for 32x32 (CIFAR) inputs, not {input_size}x"
                            f"{input_size}; use --dataset cifar10 or cifar100")
    return ModelInput(model, spec.name, channels, input_size, spec.num_classes)


def standard_pairs() -> list[tuple[str, str]]:
    """(model, data set) pairs whose layer tables ship with the package."""
    pairs = []
    for model in MODEL_NAMES:
        for dataset in ("digits", "cifar10", "cifar100", "imagenet"):
            if dataset == "imagenet" and model in CIFAR_ONLY:
                continue
            pairs.append((model, dataset))
    return pairs


def table_path(model: str, dataset: str) -> Path:
    return TABLE_DIR / f"{model}_{dataset}.json"


def table_from_json(data: dict) -> tuple[LayerGeometry, ...]:
    return tuple(LayerGeometry.from_dict(layer) for layer in data["layers"])


TableDeriver = Callable[[ModelInput], tuple[LayerGeometry, ...]]
"""Derives the layer table of a :class:`ModelInput` from the torch model
(``workloads.tables.model_layer_table``)."""


def layer_table(model: str, dataset: str, input_size: int | None = None, *,
                derive: TableDeriver | None = None) -> tuple[LayerGeometry, ...]:
    """Per conv/linear layer geometry of ``model`` on ``dataset``, in execution order.

    Standard pairs load the shipped table (no torch); anything else is derived with
    ``derive`` (``workloads.tables.model_layer_table``: shape propagation on the torch model
    on the meta device).  Without ``derive`` that is a :class:`WorkloadError`."""
    inp = model_input(model, dataset, input_size)
    # the synthetic set has the shapes of digits (digits-cnn) or CIFAR-10 (all others)
    shipped = ("digits" if model == "digits-cnn" else "cifar10") if inp.dataset == "synthetic" \
        else inp.dataset
    path = table_path(model, shipped)
    if input_size is None and path.exists():
        with open(path) as fh:
            return table_from_json(json.load(fh))
    if derive is None:
        raise WorkloadError(f"layer table of {model} at {inp.input_size}x{inp.input_size} must be "
                            "derived from the torch model (only the standard sizes ship); "
                            "pass derive=workloads.tables.model_layer_table (needs torch: "
                            "pip install torch==2.13.0)")
    return derive(inp)
