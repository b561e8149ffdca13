"""Simulation API: a trace (or plain numpy tensors) + a hardware description -> a report.

Pure functions: the same inputs give the same report, nothing global is touched.  Each
layer is loaded, lowered and simulated in turn, so memory stays bounded by one layer.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from accelsim.arrays.breakdown import ZERO, CycleBreakdown
from accelsim.arrays.registry import model_for
from accelsim.errors import AccelsimError, ConfigError
from accelsim.kernels.ahead import compile_ahead
from accelsim.kernels.threads import current_threads, map_ordered
from accelsim.kernels.threads import kernel_threads as _kernel_threads
from accelsim.pipeline.energy import ENERGY_PARTS
from accelsim.spec.geometry import LayerGeometry, conv_output_size
from accelsim.spec.hardware import Hardware, load_hardware
from accelsim.trace.reader import LayerData, Trace, open_trace
from accelsim.trace.rundir import find_trace
from accelsim.trace.schema import PASS_ROLES, PASSES
from accelsim.yardstick import DEFAULT_REFERENCE, machine_figures, pass_figures, reference_hardware

#: ``layer`` value of a totals row (the sum over layers of one pass) wherever results are
#: rows: ``Report.to_csv()``, the sweep store and its export, the plots' rows.
TOTAL = "*total*"

#: the most bytes :func:`simulate_layer` lets the lowered problem of one layer take (its
#: largest pass: output positions x reduction length, 8 bytes each), checked from the shapes
#: before anything is allocated
MAX_LOWERED_BYTES = 16 << 30

#: the most bytes a layer's operands may take for the passes of a layer to run at the same
#: time (each pass lowers its own copy of them; a bigger layer runs its passes in turn, each
#: still on every kernel thread)
CONCURRENT_PASS_BYTES = 64 << 20

_DTYPE_KINDS = {"b": "boolean", "c": "complex", "U": "string", "S": "bytes", "O": "object",
                "M": "datetime", "m": "timedelta", "V": "structured"}


@dataclass(frozen=True)
class LayerReport:
    """Per-pass cycle breakdowns of one layer on ``hardware``, and of the reference machine
    ``reference_hardware`` on the same operands (``reference``; empty without one)."""

    geometry: LayerGeometry
    passes: dict[str, CycleBreakdown]
    hardware: Hardware
    reference: dict[str, CycleBreakdown] = field(default_factory=dict)
    reference_hardware: Hardware | None = None

    def figures(self, pass_name: str) -> dict[str, Any]:
        """The figures of one pass (:func:`accelsim.yardstick.pass_figures`)."""
        return pass_figures(self.passes[pass_name], self.hardware,
                            self.reference.get(pass_name), self.reference_hardware)

    def to_dict(self) -> dict[str, Any]:
        return {p: self.figures(p) for p in self.passes}


def _pass_sum(layers: Sequence[LayerReport], pass_name: str, reference: bool) -> CycleBreakdown:
    total = ZERO
    for layer in layers:
        passes = layer.reference if reference else layer.passes
        if pass_name in passes:
            total = total + passes[pass_name]
    return total


def _totals(layers: Sequence[LayerReport], reference: bool) -> dict[str, CycleBreakdown]:
    fw, bi, bw = (_pass_sum(layers, p, reference) for p in PASSES)
    return {"forward": fw, "backward_input": bi, "backward_weight": bw,
            "backward": bi + bw, "training_step": fw + bi + bw}


@dataclass(frozen=True)
class Report:
    """A simulated trace: per layer and pass, and totals (forward, backward, training step),
    on ``hardware`` and, when given, on the reference machine ``reference_hardware``."""

    layers: tuple[LayerReport, ...]
    hardware: Hardware
    source: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    reference_hardware: Hardware | None = None

    def pass_total(self, pass_name: str) -> CycleBreakdown:
        return _pass_sum(self.layers, pass_name, False)

    def totals(self) -> dict[str, CycleBreakdown]:
        return _totals(self.layers, False)

    def reference_totals(self) -> dict[str, CycleBreakdown]:
        """:meth:`totals` of the reference machine (all zero without one)."""
        return _totals(self.layers, True)

    def total_figures(self) -> dict[str, dict[str, Any]]:
        """The figures of every total (:func:`accelsim.yardstick.pass_figures`)."""
        ref = self.reference_totals() if self.reference_hardware is not None else {}
        return {k: pass_figures(b, self.hardware, ref.get(k), self.reference_hardware)
                for k, b in self.totals().items()}

    def to_dict(self) -> dict[str, Any]:
        ref = self.reference_hardware
        return {"source": self.source, "metadata": self.metadata,
                "hardware": self.hardware.to_dict(), "hardware_digest": self.hardware.digest(),
                **machine_figures(self.hardware),
                "reference_hardware": None if ref is None else ref.to_dict(),
                "layers": [{"layer": lr.geometry.name, "kind": lr.geometry.kind,
                            "passes": lr.to_dict()} for lr in self.layers],
                "totals": self.total_figures()}

    def to_csv(self) -> str:
        """One row per (layer, pass) and per total: the columns :data:`CSV_KEYS` (the energy
        breakdown as ``energy_<part>_pj``)."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["layer", "pass", *CSV_KEYS])
        for lr in self.layers:
            for p in lr.passes:
                writer.writerow([lr.geometry.name, p, *_csv_values(lr.figures(p))])
        for name, d in self.total_figures().items():
            writer.writerow([TOTAL, name, *_csv_values(d)])
        return buf.getvalue()


def kernel_threads(threads: int | None) -> contextlib.AbstractContextManager:
    """A context in which the kernels run on ``threads`` threads (an integer >= 1, capped at
    the cores this process may use: :mod:`accelsim.kernels.threads`); ``None`` keeps the
    current count (by default every core).  Results are the same for any count."""
    if threads is None:
        return contextlib.nullcontext()
    if isinstance(threads, bool) or not isinstance(threads, int | np.integer) or threads < 1:
        raise ConfigError(f"threads = {threads!r}: give an integer >= 1 (or None for every core)")
    return _kernel_threads(int(threads))


CSV_KEYS = ("base_cycles", "compute_cycles", "ideal_cycles", "stall_cycles", "speedup",
            "speedup_vs_own_dense", "reference", "time_s", "reference_time_s",
            "exploited_sparsity", "pe_utilisation", "effectual_macs", "scheduled", "energy_pj",
            *(f"energy_{part}_pj" for part in ENERGY_PARTS), "base_energy_pj",
            "reference_energy_pj", "energy_efficiency", "effectual_gops", "gops_per_w",
            "gops_per_mm2")
"""Columns of :meth:`Report.to_csv` after ``layer`` and ``pass`` (reference columns empty
without a reference)."""


def _csv_values(d: dict[str, Any]) -> list[Any]:
    flat = {**d, **{f"energy_{k}_pj": v for k, v in d["energy_breakdown_pj"].items()}}
    return [flat.get(k, "") for k in CSV_KEYS]


def _check_passes(passes: Iterable[str]) -> tuple[str, ...]:
    out = tuple(passes)
    bad = [p for p in out if p not in PASSES]
    if bad or not out:
        raise ConfigError(f"unknown pass(es) {bad or '(none)'}; choose from {', '.join(PASSES)}")
    return out


def _operand_bytes(operands: dict[str, dict[str, np.ndarray]]) -> int:
    """Bytes of a layer's distinct operand arrays."""
    arrays = {id(a): a for roles in operands.values() for a in roles.values()}
    return sum(int(np.asarray(a).nbytes) for a in arrays.values())


def _run_passes(geometry: LayerGeometry, operands: dict[str, dict[str, np.ndarray]],
                hws: Sequence[Hardware], passes: Sequence[str]) -> list[dict[str, CycleBreakdown]]:
    """The passes of one layer on each machine: ``[{pass: breakdown}]`` in machine order.
    The passes of models that allow it (:attr:`~accelsim.arrays.base.ArrayModel.
    concurrent_passes`) run at the same time on the kernel threads when the layer's operands
    take at most :data:`CONCURRENT_PASS_BYTES` (so one pass's preparation overlaps another's
    kernels); the others, and every pass of a bigger layer, one after the other.  The
    results do not depend on the order.  Kernels missing from the compile cache are compiled
    first, shared among processes (:func:`accelsim.kernels.ahead.compile_ahead`)."""
    tasks = [(i, hw, model_for(hw), p) for i, hw in enumerate(hws) for p in passes
             if p in operands]
    compile_ahead([k for h in hws for k in model_for(h).kernels(h, geometry)], current_threads())

    def run(task: tuple[int, Hardware, Any, str]) -> CycleBreakdown:
        _, hw, model, pass_name = task
        ops = [np.asarray(operands[pass_name][r]) for r in PASS_ROLES[pass_name]]
        return model.run_pass(geometry, pass_name, ops, hw)

    together = _operand_bytes(operands) <= CONCURRENT_PASS_BYTES
    shared = [t for t in tasks if together and t[2].concurrent_passes]
    done = dict(zip(map(id, shared), map_ordered(run, shared), strict=True))
    out: list[dict[str, CycleBreakdown]] = [{} for _ in hws]
    for t in tasks:
        out[t[0]][t[3]] = done[id(t)] if id(t) in done else run(t)
    return out


def simulate_operands(geometry: LayerGeometry, operands: dict[str, dict[str, np.ndarray]],
                      hardware: Hardware, passes: Sequence[str] = PASSES, *,
                      reference: Any = None) -> LayerReport:
    """Simulate the given passes of one layer from its operands (pass -> role -> array) on
    the array model of ``[array] kind`` (:mod:`accelsim.arrays.registry`), and on the
    ``reference`` machine (anything :func:`~accelsim.spec.hardware.load_hardware` takes;
    ``None``: no reference, as a sweep point needs).  Models that only need masks
    (:meth:`~accelsim.arrays.base.ArrayModel.needs_values`) take values or masks alike: only
    the non-zeros matter."""
    return simulate_machines(geometry, operands, (hardware,), passes, reference=reference)[0]


def simulate_machines(geometry: LayerGeometry, operands: dict[str, dict[str, np.ndarray]],
                      hardwares: Sequence[Hardware], passes: Sequence[str] = PASSES, *,
                      reference: Any = None) -> tuple[LayerReport, ...]:
    """:func:`simulate_operands` of several machines on one layer: the reference runs once
    (and not at all when it is one of the machines: that machine's figures are reused)."""
    hws = [load_hardware(hw) for hw in hardwares]
    ref_hw = None if reference is None else reference_hardware(reference)
    extra = [] if ref_hw is None or ref_hw in hws else [ref_hw]
    results = _run_passes(geometry, operands, hws + extra, passes)
    if ref_hw is None:
        return tuple(LayerReport(geometry, r, hw) for r, hw in zip(results, hws, strict=True))
    ref = results[-1] if extra else results[hws.index(ref_hw)]
    return tuple(LayerReport(geometry, r, hw, ref, ref_hw)
                 for r, hw in zip(results[:len(hws)], hws, strict=True))


def read_operands(layer: LayerData, passes: Sequence[str], values: bool
                  ) -> dict[str, dict[str, np.ndarray]]:
    """The operands of a trace layer's ``passes`` (those it has), pass -> role -> array:
    decoded values when ``values``, else the non-zero masks."""
    read = layer.operand if values else layer.mask
    return {p: {r: read(p, r) for r in PASS_ROLES[p]} for p in passes if p in layer.passes}


def simulate(trace: Any, hardware: Any = None, *, passes: Sequence[str] = PASSES,
             layers: Sequence[str] | None = None, reference: Any = DEFAULT_REFERENCE,
             threads: int | None = None) -> Report:
    """Simulate a trace (an open :class:`accelsim.trace.Trace`, a trace file or a run
    directory) on ``hardware`` (anything :func:`accelsim.spec.hardware.load_hardware` takes),
    with ``reference`` (default ``"dadiannao"``; ``None``: none) on the same operands;
    ``threads``: kernel threads (:func:`kernel_threads`; default every core)."""
    return simulate_many(trace, (hardware,), passes=passes, layers=layers,
                         reference=reference, threads=threads)[0]


def simulate_many(trace: Any, hardwares: Sequence[Any], *, passes: Sequence[str] = PASSES,
                  layers: Sequence[str] | None = None,
                  reference: Any = DEFAULT_REFERENCE,
                  threads: int | None = None) -> tuple[Report, ...]:
    """:func:`simulate` of several machines on one trace, read once; the reference runs once
    per (layer, pass) for all of them.  One :class:`Report` per machine, in order."""
    hws = tuple(load_hardware(hw) for hw in hardwares)
    if not hws:
        raise ConfigError("no hardware to simulate; give at least one machine")
    wanted = _check_passes(passes)
    ref_hw = None if reference is None else reference_hardware(reference)
    if isinstance(trace, Trace):
        with kernel_threads(threads):
            return _simulate_open(trace, hws, wanted, layers, ref_hw)
    if not isinstance(trace, str | os.PathLike):
        raise ConfigError(f"simulate() takes a trace path or an open Trace, not {type(trace).__name__}")
    with open_trace(find_trace(trace)) as t, kernel_threads(threads):
        return _simulate_open(t, hws, wanted, layers, ref_hw)


def _simulate_open(trace: Trace, hws: tuple[Hardware, ...], passes: tuple[str, ...],
                   layers: Sequence[str] | None, ref_hw: Hardware | None) -> tuple[Report, ...]:
    if layers is not None:
        unknown = set(layers) - set(trace.layer_names)
        if unknown:
            raise ConfigError(f"trace {trace.path.name} has no layer(s) {sorted(unknown)}")
    machines = hws if ref_hw is None else (*hws, ref_hw)
    values = any(model_for(hw).needs_values(hw) for hw in machines)
    results: list[tuple[LayerReport, ...]] = []
    for layer in trace.iter_layers():
        if layers is not None and layer.name not in layers:
            continue
        results.append(simulate_machines(layer.geometry, read_operands(layer, passes, values),
                                         hws, passes, reference=ref_hw))
    return tuple(Report(tuple(r[i] for r in results), hw, str(trace.path),
                        trace.metadata.to_dict(), ref_hw) for i, hw in enumerate(hws))


def _pair(value: Any, what: str) -> tuple[int, int]:
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return int(value), int(value)
    try:
        a, b = value
        return int(a), int(b)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} {value!r} must be an integer or a pair (h, w)") from None


def layer_geometry_for(weights: np.ndarray, activations: np.ndarray, *, stride: Any = 1,
                       padding: Any = 0, dilation: Any = 1, name: str = "layer") -> LayerGeometry:
    """Geometry implied by plain tensors: conv weights ``[out, in/groups, kh, kw]`` with
    activations ``[batch, in, h, w]``, or linear ``[out, in]`` with ``[batch, in]``."""
    w, a = np.asarray(weights), np.asarray(activations)
    if w.ndim == 2 and a.ndim == 2:
        if w.shape[1] != a.shape[1]:
            raise ConfigError(f"linear weights {list(w.shape)} need activations [batch, "
                              f"{w.shape[1]}], got {list(a.shape)}")
        return LayerGeometry(name=name, kind="linear", in_channels=w.shape[1],
                             out_channels=w.shape[0])
    if w.ndim != 4 or a.ndim != 4:
        raise ConfigError(f"weights {list(w.shape)} and activations {list(a.shape)}: give conv "
                          "[out, in, kh, kw] with [batch, in, h, w], or linear [out, in] with "
                          "[batch, in]")
    if a.shape[1] % w.shape[1]:
        raise ConfigError(f"activation channels {a.shape[1]} are not a multiple of the weights' "
                          f"input channels {w.shape[1]}")
    groups = a.shape[1] // w.shape[1]
    (sh, sw), (ph, pw), (dh, dw) = (_pair(stride, "stride"), _pair(padding, "padding"),
                                    _pair(dilation, "dilation"))
    oh = conv_output_size(a.shape[2], w.shape[2], sh, ph, dh)
    ow = conv_output_size(a.shape[3], w.shape[3], sw, pw, dw)
    try:
        return LayerGeometry(name=name, kind="conv", in_channels=a.shape[1],
                             out_channels=w.shape[0], kernel_h=w.shape[2], kernel_w=w.shape[3],
                             stride_h=sh, stride_w=sw, padding_h=ph, padding_w=pw,
                             dilation_h=dh, dilation_w=dw, groups=groups, input_h=a.shape[2],
                             input_w=a.shape[3], output_h=oh, output_w=ow)
    except AccelsimError as exc:
        raise ConfigError(f"these tensors do not make a layer: {exc}") from None


def _real_array(value: Any, what: str) -> np.ndarray | None:
    """``value`` as an array of real numbers (integer or float); anything else (strings,
    objects, booleans, complex numbers, ragged lists) is a one-line ConfigError."""
    if value is None:
        return None
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{what} is not an array of numbers ({exc}); give a real-valued "
                          "numpy array") from None
    if arr.dtype.kind not in "iuf":
        kind = _DTYPE_KINDS.get(arr.dtype.kind, str(arr.dtype))
        article = "an" if kind[0] in "aeiou" else "a"
        raise ConfigError(f"{what} is {article} {kind} array (dtype {arr.dtype}); give real numbers "
                          f"(a float or integer array, e.g. {what}.astype(numpy.float32))")
    if arr.size == 0:
        raise ConfigError(f"{what} is empty (shape {list(arr.shape)}); give a non-empty array")
    return arr


def _check_lowered_size(g: LayerGeometry, batch: int) -> None:
    """Refuse a layer whose lowered problem would take more than :data:`MAX_LOWERED_BYTES`
    (from the shapes alone, before any allocation)."""
    positions = batch * g.output_h * g.output_w
    inputs = batch * g.input_h * g.input_w
    elements = max(positions * g.in_channels * g.kernel_h * g.kernel_w,
                   inputs * g.out_channels * g.kernel_h * g.kernel_w)
    if elements * 8 > MAX_LOWERED_BYTES:
        raise ConfigError(
            f"layer {g.name}: the lowered problem would take {elements * 8 / 2**30:.1f} GiB "
            f"(batch {batch} x {g.output_h}x{g.output_w} outputs x reduction "
            f"{g.reduction_size}), over the {MAX_LOWERED_BYTES >> 30} GiB accelsim allows; "
            "use a smaller batch, input or padding")


def simulate_layer(weights: np.ndarray, activations: np.ndarray, *, stride: Any = 1,
                   padding: Any = 0, hardware: Any = None, output_grad: np.ndarray | None = None,
                   dilation: Any = 1, saved_activations: np.ndarray | None = None,
                   name: str = "layer", reference: Any = DEFAULT_REFERENCE,
                   threads: int | None = None) -> LayerReport:
    """Simulate one layer from plain numpy arrays.  Without ``output_grad`` only the forward
    pass is simulated; with it, backward-input and backward-weight too (the latter with
    ``saved_activations`` if given, else ``activations``).  ``to_dict()`` of the result maps
    "forward", "backward_input", "backward_weight" to the figures of
    :func:`accelsim.yardstick.pass_figures` against ``reference`` (default ``"dadiannao"``;
    ``None``: none); ``threads``: kernel threads (:func:`kernel_threads`; default every core)."""
    hw = load_hardware(hardware)
    weights, activations = _real_array(weights, "weights"), _real_array(activations, "activations")
    output_grad = _real_array(output_grad, "output_grad")
    saved_activations = _real_array(saved_activations, "saved_activations")
    g = layer_geometry_for(weights, activations, stride=stride, padding=padding,
                           dilation=dilation, name=name)
    batch = activations.shape[0]
    _check_lowered_size(g, batch)
    for arr, what in ((weights, "weights"), (activations, "activations"),
                      (output_grad, "output_grad"), (saved_activations, "saved_activations")):
        if arr is not None and arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise ConfigError(f"{what} hold NaN/inf values; give finite numbers")
    ops = {"forward": {"weight": weights, "activation": activations}}
    if output_grad is not None:
        grad = np.asarray(output_grad)
        if grad.shape != g.grad_shape(batch):
            raise ConfigError(f"output_grad has shape {list(grad.shape)}, expected "
                              f"{list(g.grad_shape(batch))} for this layer")
        saved = activations if saved_activations is None else saved_activations
        if np.asarray(saved).shape != np.asarray(activations).shape:
            raise ConfigError("saved_activations must have the shape of activations")
        ops["backward_input"] = {"weight": weights, "grad": grad}
        ops["backward_weight"] = {"activation": saved, "grad": grad}
    with kernel_threads(threads):
        return simulate_operands(g, ops, hw, reference=reference)
