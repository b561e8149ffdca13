"""Per-epoch metrics of a sparse-training run: accuracy and loss, weight and activation
density, all-zero filters, dead-neuron rates and training FLOPs.

The training loop calls :func:`epoch_metrics` once per epoch; it runs one evaluation pass
over the test set with the monitors attached and returns a JSON-serialisable dict.  The
parts are usable on their own, on any model built from Conv2d/Linear layers:

* :func:`evaluate` -- mean cross-entropy and top-1 accuracy.
* :func:`weight_stats` -- per-layer weight density and fraction of all-zero filters from
  ``sparsifier.weight_masks()`` (the masks the kernels compute with).
* :mod:`training.monitors` -- activation density and dead-neuron rates (forward hooks).
* :func:`training_flops` -- dense and effectual training FLOPs from layer geometries and
  measured densities, with :mod:`accelsim.flops`'s conventions.

All counters are accumulated as counts (non-zeros, elements, samples), never as means of
per-batch means, so the batch size does not change any result.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from accelsim.errors import ConfigError
from accelsim.flops import FlopReport, LayerFlops, PassFlops
from accelsim.numeric import require_int
from accelsim.spec.geometry import LayerGeometry
from training.layers import unwrap
from training.monitors import RELU_TYPES, ActivationDensityMonitor, DeadNeuronMonitor
from training.sparsifier import Sparsifier

__all__ = [
    "FLOPS_PER_MAC",
    "WeightStats",
    "epoch_metrics",
    "evaluate",
    "flops_summary",
    "training_flops",
    "weight_stats",
]

#: One multiply-accumulate = 2 FLOPs (the convention of :mod:`accelsim.flops`).
FLOPS_PER_MAC = 2

def _device_of(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


# ----------------------------------------------------------------------------- evaluation


def evaluate(model: nn.Module, loader: Iterable) -> tuple[float, float]:
    """``(loss, accuracy)`` of ``model`` over every ``(x, y)`` batch of ``loader``.

    loss = (1/n) sum_i CE(model(x_i), y_i) (mean cross-entropy per sample, nats);
    accuracy = (1/n) #{i : argmax model(x_i) = y_i} (a fraction in [0, 1]).
    Runs in eval mode without gradients and puts the model back into the mode it was in
    (train mode after a training epoch).  Batches go to the model's device.  A
    DistributedDataParallel model is evaluated through its inner module (no collective
    calls), so any rank may evaluate alone; give it a plain, non-distributed test loader.
    """
    loss, accuracy, _ = _evaluate(model, loader)
    return loss, accuracy


def _evaluate(model: nn.Module, loader: Iterable) -> tuple[float, float, int]:
    model = unwrap(model)
    device = _device_of(model)
    was_training = model.training
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    count = 0
    model.eval()
    try:
        with torch.no_grad():
            for batch in loader:
                if not isinstance(batch, tuple | list) or len(batch) != 2:
                    raise ConfigError("evaluate() needs a loader of (inputs, labels) batches, "
                                      f"got a {type(batch).__name__}")
                x, y = batch[0].to(device), batch[1].to(device)
                out = model(x)
                loss_sum += F.cross_entropy(out, y, reduction="sum").to(torch.float64)
                correct += (out.argmax(dim=1) == y).sum()
                count += int(y.numel())
    finally:
        model.train(was_training)
    if count == 0:
        raise ConfigError("the evaluation loader yielded no samples; give a non-empty test set")
    return float(loss_sum) / count, int(correct) / count, count


# ----------------------------------------------------------------------------- weights


@dataclass(frozen=True)
class WeightStats:
    """Weight density and all-zero filters per layer and overall.

    * density[l] = nnz(M_l) / numel(M_l), M_l the layer's weight mask as the kernels use it;
      overall_density = sum_l nnz(M_l) / sum_l numel(M_l) (pooled over all weights).
    * A filter is one output channel's weights, ``M_l[o]`` (``[in/groups, kh, kw]`` for a
      conv, the row ``[in]`` for a linear layer).  zero_filters[l] = #{o : M_l[o] all zero}
      / out_channels; overall_zero_filters = sum_l #zero filters / sum_l out_channels (seed
      000, Fig. 3: "percentage of all-zero filters").
    """

    density: dict[str, float]
    zero_filters: dict[str, float]
    overall_density: float
    overall_zero_filters: float

    def to_dict(self) -> dict[str, Any]:
        return {"weight_density": {"overall": self.overall_density, "layers": dict(self.density)},
                "zero_filters": {"overall": self.overall_zero_filters,
                                 "layers": dict(self.zero_filters)}}


def weight_stats(masks: Mapping[str, torch.Tensor]) -> WeightStats:
    """:class:`WeightStats` of ``masks`` (layer name -> mask or weight tensor; non-zero =
    kept), e.g. ``weight_stats(sparsifier.weight_masks())``."""
    if not masks:
        raise ConfigError("no weight masks given; pass sparsifier.weight_masks()")
    density, zero_filters = {}, {}
    nnz_all = numel_all = zero_all = filters_all = 0
    for name, mask in masks.items():
        if not isinstance(mask, torch.Tensor) or mask.ndim < 2:
            raise ConfigError(f"weight mask of layer {name} must be a tensor [out, ...], got "
                              f"{getattr(mask, 'shape', type(mask).__name__)}")
        kept = mask.detach() != 0
        nnz, numel = int(kept.sum()), kept.numel()
        zero = int((~kept.reshape(kept.shape[0], -1).any(dim=1)).sum())
        density[name] = nnz / numel if numel else 1.0
        zero_filters[name] = zero / kept.shape[0] if kept.shape[0] else 0.0
        nnz_all, numel_all = nnz_all + nnz, numel_all + numel
        zero_all, filters_all = zero_all + zero, filters_all + kept.shape[0]
    return WeightStats(density, zero_filters, nnz_all / numel_all if numel_all else 1.0,
                       zero_all / filters_all if filters_all else 0.0)


# ----------------------------------------------------------------------------- FLOPs


def _density(values: Mapping[str, float | None] | None, name: str, what: str,
             default: float) -> float:
    """``values[name]`` checked to lie in [0, 1]; ``default`` when absent."""
    if values is None or name not in values:
        return default
    value = values[name]
    if value is None:
        raise ConfigError(f"no measured {what} for layer {name} (None); measure it or leave "
                          "the layer out")
    value = float(value)
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ConfigError(f"{what} of layer {name} is {value}; a density lies in [0, 1]")
    return value


def training_flops(geometries: Sequence[LayerGeometry], weight_density: Mapping[str, float], *,
                   activation_density: Mapping[str, float | None] | None = None,
                   saved_activation_density: Mapping[str, float | None] | None = None,
                   samples: int = 1, source: str = "measured") -> FlopReport:
    """Dense and effectual MACs of training on ``samples`` samples from measured densities.

    ``geometries`` are the model's layers in execution order (e.g.
    ``workloads.tables.derive_layer_table(model, (C, H, W))``; a layer called twice appears
    as ``NAME#2`` and uses NAME's densities).  With d = the layer's dense forward MACs x
    ``samples``, w its weight density, a its forward-input activation density (1 when
    ``activation_density`` is None) and s its saved-activation density (a when
    ``saved_activation_density`` is None), following :mod:`accelsim.flops`:

    * forward: d x w x a
    * backward_input: d x w (output gradients dense); the first layer has none
    * backward_weight: d x s

    Effectual MACs here assume independent zeros (density products); exact counts come
    from traces (:func:`accelsim.flops.trace_flops`).  FLOPs = :data:`FLOPS_PER_MAC` x MACs.
    A layer missing from ``weight_density`` is an error; from ``activation_density`` it
    counts as dense.  Returns an :class:`accelsim.flops.FlopReport` (``batch`` = samples).
    """
    if not geometries:
        raise ConfigError("no layer geometries given; derive them with "
                          "workloads.tables.derive_layer_table(model, (C, H, W))")
    require_int(samples, "samples", 1)
    out = []
    for i, g in enumerate(geometries):
        base = g.name.split("#", 1)[0]
        if base not in weight_density:
            raise ConfigError(f"no weight density for layer {base}; pass "
                              "weight_stats(sparsifier.weight_masks()).density")
        wd = _density(weight_density, base, "weight density", 1.0)
        ad = _density(activation_density, base, "activation density", 1.0)
        sd = _density(saved_activation_density, base, "saved-activation density", ad)
        dense = g.macs_per_sample * samples
        dens = {"forward": {"weight_density": wd, "activation_density": ad},
                "backward_weight": {"activation_density": sd, "grad_density": 1.0}}
        passes = {"forward": PassFlops(dense, dense * wd * ad),
                  "backward_weight": PassFlops(dense, dense * sd)}
        if i > 0:
            passes["backward_input"] = PassFlops(dense, dense * wd)
            dens["backward_input"] = {"weight_density": wd, "grad_density": 1.0}
        out.append(LayerFlops(g, passes, dens))
    return FlopReport(source, samples, tuple(out))


def flops_summary(report: FlopReport, *, train_samples: int) -> dict[str, Any]:
    """Training FLOPs of ``report`` (made with ``samples=1``) per sample and per epoch.

    per_sample[x] = FLOPS_PER_MAC x sum over layers and passes of x MACs (x = dense or
    effectual); per_epoch = per_sample x ``train_samples`` (one forward + backward per
    training sample).  Also each pass's per-sample FLOPs and the two reductions.
    """
    if report.batch != 1:
        raise ConfigError(f"flops_summary needs a per-sample report (samples=1), got "
                          f"batch {report.batch}")
    passes = {p: {"dense": FLOPS_PER_MAC * report.total(p, "dense_macs"),
                  "effectual": FLOPS_PER_MAC * report.total(p, "effectual_macs")}
              for p in ("forward", "backward_input", "backward_weight")}
    per_sample = {k: sum(v[k] for v in passes.values()) for k in ("dense", "effectual")}
    return {"per_sample": per_sample,
            "per_epoch": {k: v * train_samples for k, v in per_sample.items()},
            "passes_per_sample": passes,
            "training_flops_reduction": report.training_flops_reduction,
            "inference_flops_reduction": report.inference_flops_reduction}


# ----------------------------------------------------------------------------- one epoch


def _jsonable(value: Any) -> Any:
    """Plain JSON types: tensors/numpy scalars -> numbers, NaN/inf -> None."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, torch.Tensor):
        value = value.item() if value.numel() == 1 else value.tolist()
        return _jsonable(value)
    if hasattr(value, "item") and not isinstance(value, str | bytes):  # numpy scalar
        value = value.item()
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    raise ConfigError(f"metric value of type {type(value).__name__} is not JSON-serialisable; "
                      "pass numbers, strings, lists or dicts")


def _flops_record(geometries: Sequence[LayerGeometry], weight_density: Mapping[str, float],
                  activation: Mapping[str, Any], act_from: str,
                  saved_activation_density: Mapping[str, float | None] | None,
                  train_samples: int) -> dict[str, Any]:
    """The ``flops`` entry of an epoch record: training FLOPs at the measured densities
    (``activation``: the train or test activation densities, named by ``act_from``)."""
    report = training_flops(geometries, weight_density,
                            activation_density=activation["layers"],
                            saved_activation_density=saved_activation_density)
    return {**flops_summary(report, train_samples=train_samples),
            "activation_density_from": act_from}


def epoch_metrics(model: nn.Module, sparsifier: Sparsifier, test_loader: Iterable, *,
                  epoch: int, train_loss: float, train_accuracy: float, train_samples: int,
                  geometries: Sequence[LayerGeometry] | None = None,
                  train_activation: ActivationDensityMonitor | None = None,
                  saved_activation_density: Mapping[str, float | None] | None = None,
                  dead_neurons: bool = True,
                  extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The metrics record of one epoch (a JSON-serialisable dict).

    Runs one :func:`evaluate` pass over ``test_loader`` with an
    :class:`ActivationDensityMonitor` on ``sparsifier.layers`` and (when ``dead_neurons``
    and the model has ReLU modules) a :class:`DeadNeuronMonitor`, and reads the weight
    masks from ``sparsifier.weight_masks()``.  The training loop passes what it measured
    during the epoch: mean ``train_loss`` and ``train_accuracy`` over its ``train_samples``
    samples, optionally ``train_activation`` (an ActivationDensityMonitor that was around
    the epoch's training steps) and ``saved_activation_density`` (layer -> density of the
    activation saved for backward-weight, e.g. from SWAT's ``measured_densities()``).
    Training FLOPs (when ``geometries`` are given) use the train activation density when
    given, else the test pass's.  Keys::

        epoch, train {loss, accuracy, samples}, test {loss, accuracy, samples},
        weight_density {overall, layers}, zero_filters {overall, layers},
        activation_density {test {overall, layers}, train {overall, layers} | null},
        dead_neurons {dnr, dynamic_dnr, static_dnr, samples, neurons_per_sample, dead,
                      static_neurons, sites} | null,
        flops {per_sample, per_epoch, passes_per_sample, training_flops_reduction,
               inference_flops_reduction, activation_density_from} | null,
        plus the keys of ``extra``.

    Densities and rates are fractions in [0, 1], FLOPs counts; non-finite numbers (a
    diverged loss) are written as null.
    """
    has_relu = any(isinstance(m, RELU_TYPES) for m in unwrap(model).modules())
    dnm = DeadNeuronMonitor(model) if dead_neurons and has_relu else None
    with ActivationDensityMonitor(sparsifier.layers) as adm, (dnm or contextlib.nullcontext()):
        test_loss, test_accuracy, test_samples = _evaluate(model, test_loader)
    ws = weight_stats(sparsifier.weight_masks())
    test_act = {"overall": adm.overall_density(), "layers": adm.densities()}
    train_act = None if train_activation is None else {
        "overall": train_activation.overall_density(), "layers": train_activation.densities()}
    flops = None if geometries is None else _flops_record(
        geometries, ws.density, train_act or test_act, "test" if train_act is None else "train",
        saved_activation_density, train_samples)
    record: dict[str, Any] = {
        "epoch": epoch,
        "train": {"loss": train_loss, "accuracy": train_accuracy, "samples": train_samples},
        "test": {"loss": test_loss, "accuracy": test_accuracy, "samples": test_samples},
        **ws.to_dict(),
        "activation_density": {"test": test_act, "train": train_act},
        "dead_neurons": None if dnm is None else dnm.result().to_dict(),
        "flops": flops,
    }
    for key, value in (extra or {}).items():
        if key in record:
            raise ConfigError(f"extra metric {key!r} would overwrite a standard key; rename it")
        record[key] = value
    record = _jsonable(record)
    json.dumps(record, allow_nan=False)  # guaranteed plain JSON
    return record
