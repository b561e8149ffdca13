"""The Python API behind every CLI subcommand (what tests and notebooks use).

Nothing here imports torch, training, workloads or plots: layer tables of the standard pairs
ship with the package, and what needs torch comes in as a function from the caller (the CLI):
``derive`` derives a layer table that does not ship (``workloads.tables.model_layer_table``),
``trainer`` trains the demo's model (``training.loop``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from accelsim.arrays.registry import model_for
from accelsim.errors import ConfigError
from accelsim.fileio import check_file_target, ensure_dir
from accelsim.flops import FlopReport, spec_flops, trace_flops
from accelsim.kernels.ahead import compile_ahead
from accelsim.kernels.threads import current_threads
from accelsim.networks.catalog import TableDeriver
from accelsim.networks.catalog import layer_table as _catalog_table
from accelsim.simulate import (
    LayerReport,
    Report,
    kernel_threads,
    simulate,
    simulate_layer,
    simulate_machines,
    simulate_many,
)
from accelsim.spec.geometry import LayerGeometry
from accelsim.spec.hardware import Hardware, load_hardware
from accelsim.trace.reader import open_trace
from accelsim.trace.rundir import find_trace
from accelsim.trace.schema import PASSES
from accelsim.trace.synthetic import SyntheticSpec, generate_layers, write_synthetic_trace
from accelsim.yardstick import DEFAULT_REFERENCE, machine_figures, reference_hardware

Trainer = Callable[..., Any]
"""Trains the demo: ``trainer(run_dir, *, model, method, sparsity, epochs, seed, trace_every,
trace_samples, progress, log)`` -> a result with ``traces`` (paths, oldest first)."""


def layer_table(model: str, dataset: str = "cifar10", input_size: int | None = None, *,
                derive: TableDeriver | None = None) -> tuple[LayerGeometry, ...]:
    """Per conv/linear layer geometry of a zoo model on a data set (see
    :func:`accelsim.networks.catalog.layer_table`; ``derive`` for sizes that do not ship)."""
    return _catalog_table(model, dataset, input_size, derive=derive)


def inspect_trace(path: str | os.PathLike[str], step: int | None = None, *,
                  deep: bool = False) -> dict[str, Any]:
    """Metadata and per layer/pass operand shapes and measured densities of a trace file
    or of the latest (or ``step``) trace of a run directory.  What it shows is checked
    first (every tensor's members present, sizes as the manifest says; ``deep``: every
    tensor decoded and its mask and values checked); damage raises a TraceError."""
    with open_trace(find_trace(path, step)) as trace:
        trace.check(deep=deep).raise_if_bad()
        return trace.summary()


def flops_of_trace(path: str | os.PathLike[str], step: int | None = None) -> FlopReport:
    """Exact dense/effectual MACs of a recorded trace (one layer in memory at a time)."""
    with open_trace(find_trace(path, step)) as trace:
        return trace_flops(trace)


def flops_of_spec(model: str, dataset: str, method: str, sparsity: float, *,
                  activation_sparsity: float = 0.0, batch: int = 1,
                  input_size: int | None = None,
                  derive: TableDeriver | None = None) -> FlopReport:
    """MACs of one training step of ``method`` at ``sparsity`` on a zoo model."""
    layers = layer_table(model, dataset, input_size, derive=derive)
    return spec_flops(layers, method, sparsity, activation_sparsity=activation_sparsity,
                      batch=batch, source=f"{model}/{dataset}/{method}@{sparsity}")


def synthetic_trace(out: str | os.PathLike[str], *, encoding: str = "fixed16",
                    derive: TableDeriver | None = None, **spec_fields: Any) -> Path:
    """Write a synthetic trace; ``spec_fields`` are :class:`accelsim.trace.synthetic.SyntheticSpec`
    fields (``method=`` with ``sparsity=`` builds the spec from a method profile)."""
    if "sparsity" in spec_fields:
        method = spec_fields.pop("method", "swat-u")
        sparsity = spec_fields.pop("sparsity")
        model = spec_fields.pop("model")
        spec = SyntheticSpec.for_method(model, method, sparsity, **spec_fields)
    else:
        spec = SyntheticSpec(**spec_fields)
    out = check_file_target(out)
    return write_synthetic_trace(spec, out, encoding=encoding, derive=derive)


def simulate_trace(path: str | os.PathLike[str], hardware: Any = None, *,
                   passes: Sequence[str] = PASSES, step: int | None = None,
                   reference: Any = DEFAULT_REFERENCE,
                   threads: int | None = None) -> Report:
    """Simulate the trace file (or the latest / ``step`` trace of a run directory) on
    ``hardware``, with ``reference`` (a built-in name, TOML path or Hardware; ``None``: none)
    on the same operands (:mod:`accelsim.yardstick`), with ``threads`` kernel threads (default
    every core)."""
    with open_trace(find_trace(path, step)) as trace:
        return simulate(trace, hardware, passes=passes, reference=reference, threads=threads)


def simulate_synthetic(model: str, hardware: Any = None, *, dataset: str = "imagenet",
                       method: str = "swat-u", sparsity: float = 0.9, batch: int = 1,
                       seed: int = 0, passes: Sequence[str] = PASSES,
                       derive: TableDeriver | None = None,
                       reference: Any = DEFAULT_REFERENCE,
                       threads: int | None = None) -> Report:
    """Simulate a synthetic ``method`` trace of a zoo model without writing it to disk, with
    ``reference`` on the same operands (``None``: none), one layer generated at a time, with
    ``threads`` kernel threads (default every core)."""
    return compare_synthetic(model, (hardware,), dataset=dataset, method=method,
                             sparsity=sparsity, batch=batch, seed=seed, passes=passes,
                             derive=derive, reference=reference,
                             threads=threads)[0]


def compare_synthetic(model: str, hardwares: Sequence[Any], *, dataset: str = "imagenet",
                      method: str = "swat-u", sparsity: float = 0.9, batch: int = 1,
                      seed: int = 0, passes: Sequence[str] = PASSES,
                      derive: TableDeriver | None = None,
                      reference: Any = DEFAULT_REFERENCE,
                      threads: int | None = None) -> tuple[Report, ...]:
    """:func:`simulate_synthetic` of several machines on one synthetic trace (generated once;
    the reference runs once per layer and pass for all of them)."""
    hws = tuple(load_hardware(hw) for hw in hardwares)
    ref_hw = None if reference is None else reference_hardware(reference)
    spec = SyntheticSpec.for_method(model, method, sparsity, dataset=dataset, batch=batch,
                                    seed=seed)
    with kernel_threads(threads):
        layers = [simulate_machines(g, ops, hws, passes, reference=ref_hw)
                  for g, ops in generate_layers(spec, derive=derive)]
    return tuple(Report(tuple(lr[i] for lr in layers), hw,
                        f"synthetic:{model}/{dataset}/{method}@{sparsity}",
                        {"synthetic": spec.to_dict()}, ref_hw) for i, hw in enumerate(hws))


WARM_HARDWARE = ("bit-tactical", "bit-tactical-tclp", "bit-tactical-tcle", "scnn")
"""Built-in machines whose kernels :func:`warm_kernels` compiles (the systolic and ideal
models have none)."""


def warm_kernels(threads: int | None = None) -> dict[str, float]:
    """Compile every numba kernel into the on-disk cache (:mod:`accelsim.kernels`; a no-op
    when it is warm): the kernels the machines of :data:`WARM_HARDWARE` (Bit-Tactical with
    either operand scheduled) declare for the layers of digits-cnn are compiled ahead in up
    to ``threads`` processes (:func:`accelsim.kernels.ahead.compile_ahead`), then a small
    synthetic trace (digits-cnn on digits, batch 1) is simulated on each machine, which
    compiles what is left.  -> seconds per step (``compiled ahead``, when it compiled
    anything) and per machine (``name`` or ``name/schedule``)."""
    variants: list[tuple[str, Hardware]] = []
    for name in WARM_HARDWARE:
        hw = load_hardware(name)
        variants += [(name, hw)] if name == "scnn" else [
            (f"{name}/{s}", hw.replace(**{"frontend.schedule": s}))
            for s in ("weights", "activations")]
    layers = _catalog_table("digits-cnn", "digits")
    with kernel_threads(threads):
        t0 = time.perf_counter()
        done = compile_ahead([k for _, hw in variants for g in layers
                              for k in model_for(hw).kernels(hw, g)], current_threads(),
                             always=True)
        out = {"compiled ahead": time.perf_counter() - t0} if done else {}
    for label, machine in variants:
        t0 = time.perf_counter()
        simulate_synthetic("digits-cnn", machine, dataset="digits", batch=1, threads=threads)
        out[label] = time.perf_counter() - t0
    return out


def _load_npy(path: str | os.PathLike[str] | None, what: str) -> np.ndarray | None:
    if path is None:
        return None
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise ConfigError(f"{what} file {path} does not exist") from None
    except (ValueError, OSError, EOFError) as exc:
        raise ConfigError(f"{what} file {path} is not a readable .npy array ({exc})") from None


def simulate_layer_files(weights: str | os.PathLike[str], activations: str | os.PathLike[str],
                         *, output_grad: str | os.PathLike[str] | None = None, stride: int = 1,
                         padding: int = 0, hardware: Any = None,
                         reference: Any = DEFAULT_REFERENCE,
                         threads: int | None = None) -> LayerReport:
    """:func:`accelsim.simulate_layer` on tensors read from .npy files."""
    return simulate_layer(_load_npy(weights, "weights"), _load_npy(activations, "activations"),
                          output_grad=_load_npy(output_grad, "output gradient"), stride=stride,
                          padding=padding, hardware=hardware, reference=reference,
                          threads=threads)


COMPARE_TOTAL = "training_step"
"""The total :class:`Comparison` ranks machines by: the sum of the simulated passes."""


@dataclass(frozen=True)
class Comparison:
    """Several machines on one trace against one reference (``accelsim compare``): each
    machine's :class:`~accelsim.simulate.Report`, and per machine the figures of the sum of
    the simulated passes (:data:`COMPARE_TOTAL`) with its area."""

    reports: tuple[Report, ...]
    reference: Hardware
    passes: tuple[str, ...]

    def rows(self) -> list[dict[str, Any]]:
        """One dict per machine, in order: ``name``, ``kind``, ``hardware_digest``,
        ``area_mm2``, ``area_breakdown_mm2`` and the :func:`accelsim.yardstick.pass_figures`
        of :data:`COMPARE_TOTAL`."""
        return [{"name": r.hardware.name or f"machine {i + 1}", "kind": r.hardware.array.kind,
                 "hardware_digest": r.hardware.digest(), **machine_figures(r.hardware),
                 **r.total_figures()[COMPARE_TOTAL]} for i, r in enumerate(self.reports)]

    def to_dict(self) -> dict[str, Any]:
        """``{"source", "reference", "reference_hardware", "passes", "total", "machines":
        rows(), "totals": [per machine: every total's figures]}``."""
        source = self.reports[0].source if self.reports else ""
        return {"source": source, "reference": self.reference.name or "reference",
                "reference_hardware": self.reference.to_dict(), "passes": list(self.passes),
                "total": COMPARE_TOTAL, "machines": self.rows(),
                "totals": [r.total_figures() for r in self.reports]}


def compare_trace(path: str | os.PathLike[str], hardwares: Sequence[Any], *,
                  reference: Any = DEFAULT_REFERENCE, passes: Sequence[str] = PASSES,
                  step: int | None = None, threads: int | None = None) -> Comparison:
    """Simulate the trace (file or run directory) on every machine of ``hardwares`` (built-in
    names, TOML paths or Hardware) against ``reference``, read once, the reference run once
    per layer and pass, with ``threads`` kernel threads (default every core)."""
    if isinstance(hardwares, str) or not hardwares:
        raise ConfigError("compare needs a list of machines (built-in names or TOML files), "
                          "e.g. ['bit-tactical', 'scnn']")
    ref_hw = reference_hardware(reference)
    with open_trace(find_trace(path, step)) as trace:
        reports = simulate_many(trace, hardwares, passes=passes, reference=ref_hw,
                                threads=threads)
    return Comparison(reports, ref_hw, tuple(passes))


@dataclass(frozen=True)
class DemoResult:
    trace_path: Path
    summary: dict[str, Any]
    trace_flops: FlopReport
    spec_flops: FlopReport
    simulation: Report
    training: Any = None          # training.loop.RunResult when the demo trained


def demo(out_dir: str | os.PathLike[str] = "runs/demo", *, model: str = "digits-cnn",
         dataset: str = "digits", method: str = "swat-u", sparsity: float = 0.9,
         epochs: int = 3, batch: int = 4, seed: int = 0, synthetic: bool = False,
         progress: bool = True, log: Any = print, trainer: Trainer | None = None,
         derive: TableDeriver | None = None) -> DemoResult:
    """The main job on the embedded default, end to end: train ``model`` with ``method``
    on the real sklearn digits set shipped with scikit-learn (``epochs`` epochs, a trace
    every 20 steps of ``batch`` samples) with ``trainer`` (the CLI passes the one of
    :mod:`training.loop`), then account the FLOPs of the last trace exactly and simulate it
    on the default Bit-Tactical T<2,5> array.

    ``synthetic=True`` skips training (no torch): a seeded synthetic ``method`` trace of
    ``model`` on ``dataset`` shapes is written instead."""
    run = Path(out_dir)
    if synthetic:
        ensure_dir(run / "traces")
        path = synthetic_trace(run / "traces" / "step-00000000.trace", model=model,
                               dataset=dataset, method=method, sparsity=sparsity, batch=batch,
                               seed=seed, derive=derive)
        trained = None
    else:
        if dataset != "digits":
            raise ConfigError(f"the demo trains on the embedded digits set, not {dataset!r}; "
                              "use `accelsim train --data ...` for other data, or --synthetic")
        if trainer is None:
            raise ConfigError("the demo needs a trainer to train (the CLI passes the one of "
                              "training.loop); or use synthetic=True")
        trained = trainer(run, model=model, method=method, sparsity=sparsity, epochs=epochs,
                          seed=seed, trace_every=20, trace_samples=batch, progress=progress,
                          log=log)
        if not trained.traces:
            raise ConfigError(f"the demo run {run} recorded no trace")
        path = trained.traces[-1]
    return DemoResult(path, inspect_trace(path), flops_of_trace(path),
                      flops_of_spec(model, dataset, method, sparsity, batch=batch, derive=derive),
                      simulate_trace(path), trained)
