"""Simulated vs measured: join the accelerator's simulated speedups with GPU-measured ones.

:func:`validate` simulates a trace (or the latest / ``step`` trace of a run directory) on a
hardware description and joins, per (layer, pass), the simulated speedup over the dense
array (:attr:`accelsim.arrays.bittactical.CycleBreakdown.speedup`) with the measured speedup of the
sparse GPU kernels over a dense GPU baseline, read from a GPU results file
(:func:`plots.data.load_gpu_results`: the JSON of ``accelsim gpu-bench`` or the minimal
``{"layers": [{"layer", "pass", "speedup"}]}``).  It reports the rank agreement (Spearman's
rho, overall and per pass) and the size of the gap (geometric mean of measured / simulated).

Reading the gap (README, "Simulated vs measured"): a ratio below 1 is the price a GPU pays
for sparsity that the accelerator's static scheduler does not (index decoding, load
imbalance, lost tensor cores, compression per call, memory-bound small layers); a high rank
correlation with a low ratio means the simulator orders the layers right but the GPU
realises only a fraction of the speedup.

No torch, no matplotlib (the figures are drawn by :mod:`plots.figures`).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from scipy.stats import spearmanr

from accelsim import api
from accelsim.errors import AccelsimError
from accelsim.measured import GpuResults, load_gpu_results
from accelsim.simulate import Report
from accelsim.trace.schema import PASSES

__all__ = ["ValidationError", "ValidationResult", "ValidationRow", "spearman", "validate"]

#: speedup baselines of ``accelsim gpu-bench`` (``ours_total_vs_BASELINE``)
BASELINES: tuple[str, ...] = ("dense_fp32", "dense_tf32", "dense_bf16", "cusparse_csr",
                              "semi_24")
FIGURE_NAMES: tuple[str, ...] = ("validation-scatter", "validation-layers")


class ValidationError(AccelsimError, ValueError):
    """Simulated and measured results that cannot be joined (nothing in common, NaN ...)."""


@dataclass(frozen=True)
class ValidationRow:
    """One (layer, pass): simulated and measured speedup and ``ratio = measured / simulated``."""

    layer: str
    pass_name: str
    simulated: float
    measured: float
    ratio: float

    def to_dict(self) -> dict[str, Any]:
        return {"layer": self.layer, "pass": self.pass_name, "simulated": self.simulated,
                "measured": self.measured, "ratio": self.ratio}


def _finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None


def spearman(simulated: Sequence[float], measured: Sequence[float]) -> float:
    """Spearman's rank correlation (:func:`scipy.stats.spearmanr`); NaN with fewer than two
    points or when either side is constant (no ranking to compare)."""
    if len(simulated) != len(measured):
        raise ValidationError(f"spearman() needs two sequences of the same length, got "
                              f"{len(simulated)} simulated and {len(measured)} measured values")
    if len(simulated) < 2 or len(set(simulated)) < 2 or len(set(measured)) < 2:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rho = spearmanr(simulated, measured).statistic
    return float(rho)


def geomean(values: Sequence[float]) -> float:
    """Geometric mean of positive numbers (NaN when empty)."""
    if not values:
        return math.nan
    return math.exp(sum(math.log(v) for v in values) / len(values))


@dataclass(frozen=True)
class ValidationResult:
    """The join of one simulation and one GPU results file.

    ``rows`` grouped by pass (training order), layers in trace order; ``spearman`` over all rows and
    ``spearman_by_pass`` per pass (NaN where undefined: < 2 rows or a constant side);
    ``geomean_ratio`` (and per pass) of measured / simulated; ``unmatched_simulated``: pairs
    the simulation has (in the passes the GPU file names) but the GPU file lacks;
    ``unmatched_measured``: pairs of the GPU file the simulation lacks."""

    rows: tuple[ValidationRow, ...]
    spearman: float
    spearman_by_pass: dict[str, float]
    geomean_ratio: float
    geomean_ratio_by_pass: dict[str, float]
    unmatched_simulated: tuple[tuple[str, str], ...]
    unmatched_measured: tuple[tuple[str, str], ...]
    trace: str
    gpu_results: str
    device: str = ""
    baseline: str = "dense_fp32"
    hardware: str = ""
    report: Report | None = field(default=None, compare=False, repr=False)

    @property
    def matched(self) -> int:
        """Number of (layer, pass) pairs found on both sides."""
        return len(self.rows)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN -> null)."""
        return {
            "trace": self.trace, "gpu_results": self.gpu_results, "device": self.device,
            "baseline": self.baseline, "hardware": self.hardware,
            "rows": [r.to_dict() for r in self.rows],
            "matched": self.matched,
            "unmatched_simulated": len(self.unmatched_simulated),
            "unmatched_measured": len(self.unmatched_measured),
            "unmatched_simulated_pairs": [list(k) for k in self.unmatched_simulated],
            "unmatched_measured_pairs": [list(k) for k in self.unmatched_measured],
            "spearman": _finite_or_none(self.spearman),
            "spearman_by_pass": {k: _finite_or_none(v) for k, v in self.spearman_by_pass.items()},
            "geomean_ratio": _finite_or_none(self.geomean_ratio),
            "geomean_ratio_by_pass": {k: _finite_or_none(v)
                                      for k, v in self.geomean_ratio_by_pass.items()},
        }

    def summary_lines(self) -> list[str]:
        """The summary printed under the table (one line each)."""
        def rho(x: float) -> str:
            return f"{x:.3f}" if math.isfinite(x) else "n/a"

        lines = [f"matched {self.matched} layer-pass pairs; simulated only "
                 f"{len(self.unmatched_simulated)}, measured only {len(self.unmatched_measured)}"]
        for what, pairs in (("simulated only", self.unmatched_simulated),
                            ("measured only", self.unmatched_measured)):
            if pairs:
                shown = ", ".join(f"{layer}/{p}" for layer, p in pairs[:6])
                lines.append(f"  {what}: {shown}{' ...' if len(pairs) > 6 else ''}")
        lines.append(f"Spearman rank correlation {rho(self.spearman)}; geometric-mean ratio "
                     f"measured/simulated {self.geomean_ratio:.3f}")
        for p in self.spearman_by_pass:
            lines.append(f"  {p}: Spearman {rho(self.spearman_by_pass[p])}, ratio "
                         f"{self.geomean_ratio_by_pass[p]:.3f}")
        return lines


def _examples(pairs: Sequence[tuple[str, str]], n: int = 4) -> str:
    shown = ", ".join(f"{layer}/{p}" for layer, p in list(pairs)[:n])
    return shown + (" ..." if len(pairs) > n else "") if shown else "(none)"


def _measured(gpu_results: Any, baseline: str) -> tuple[GpuResults, str]:
    """The measured speedups and where they came from (a file path, or a GpuResults)."""
    if isinstance(gpu_results, GpuResults):
        return gpu_results, "(GpuResults)"
    if isinstance(gpu_results, str | os.PathLike):
        return load_gpu_results(gpu_results, baseline=baseline), str(gpu_results)
    raise ValidationError(f"gpu_results must be a JSON file path or GpuResults, not "
                          f"{type(gpu_results).__name__}")


def _rows(matched: Sequence[tuple[str, str]], simulated: dict[tuple[str, str], float],
          measured: GpuResults) -> list[ValidationRow]:
    """One row per matched (layer, pass); both speedups must be positive numbers."""
    rows = []
    for layer, p in matched:
        sim, meas = simulated[(layer, p)], float(measured.speedups[(layer, p)])
        for what, v in (("simulated", sim), ("measured", meas)):
            if not math.isfinite(v) or v <= 0:
                raise ValidationError(f"{what} speedup of {layer} {p} is {v}; speedups must be "
                                      "positive numbers (check the trace and the GPU results)")
        rows.append(ValidationRow(layer, p, sim, meas, meas / sim))
    return rows


def validate(trace_or_run_dir: str | os.PathLike[str], gpu_results: Any,
             hardware: Any = None, *, step: int | None = None,
             baseline: str = "dense_fp32") -> ValidationResult:
    """Join the simulated speedups of a trace with measured GPU speedups per layer and pass.

    ``gpu_results``: a GPU results file (the JSON of ``accelsim gpu-bench``, or the minimal
    ``{"layers": [{"layer", "pass", "speedup"}]}``) or a loaded
    :class:`accelsim.measured.GpuResults`; ``baseline``: which dense GPU baseline the measured
    speedups are over (``rows[].speedup["ours_total_vs_BASELINE"]`` of a gpu-bench file;
    the minimal format has dense_fp32 only).  ``hardware``: anything
    :func:`accelsim.spec.hardware.load_hardware` takes.  Only the passes the GPU file names are
    simulated.  Raises :class:`ValidationError` (or the reader's one-line error) when the
    file is missing or malformed, nothing matches, or a speedup is not a positive number."""
    if baseline not in BASELINES:
        raise ValidationError(f"unknown GPU baseline {baseline!r}; choose from "
                              f"{', '.join(BASELINES)}")
    measured, source = _measured(gpu_results, baseline)
    gpu_pairs = list(measured.speedups)
    passes = tuple(p for p in PASSES if any(k[1] == p for k in gpu_pairs))
    if not passes:
        gpu_passes = sorted({k[1] for k in gpu_pairs})
        raise ValidationError(f"GPU results {source} name no known pass ({', '.join(gpu_passes)}"
                              f"); passes are {', '.join(PASSES)}")
    report = api.simulate_trace(trace_or_run_dir, hardware, passes=passes, step=step)
    simulated: dict[tuple[str, str], float] = {}
    for lr in report.layers:
        for p in passes:
            if p in lr.passes:
                simulated[(lr.geometry.name, p)] = float(lr.passes[p].speedup)
    matched = [k for k in simulated if k in measured.speedups]
    if not matched:
        raise ValidationError(
            f"no layer/pass of GPU results {source} matches the trace {report.source}: the GPU "
            f"file has {_examples(gpu_pairs)}, the trace has {_examples(list(simulated))}; "
            "benchmark this trace (`accelsim gpu-bench TRACE`)")
    matched.sort(key=lambda k: PASSES.index(k[1]))  # stable: layer order within a pass
    rows = _rows(matched, simulated, measured)
    by_pass = {p: [r for r in rows if r.pass_name == p] for p in passes}
    by_pass = {p: rs for p, rs in by_pass.items() if rs}
    return ValidationResult(
        rows=tuple(rows),
        spearman=spearman([r.simulated for r in rows], [r.measured for r in rows]),
        spearman_by_pass={p: spearman([r.simulated for r in rs], [r.measured for r in rs])
                          for p, rs in by_pass.items()},
        geomean_ratio=geomean([r.ratio for r in rows]),
        geomean_ratio_by_pass={p: geomean([r.ratio for r in rs]) for p, rs in by_pass.items()},
        unmatched_simulated=tuple(k for k in simulated if k not in measured.speedups),
        unmatched_measured=tuple(k for k in gpu_pairs if k not in simulated),
        trace=str(report.source), gpu_results=source, device=measured.device,
        baseline=baseline, hardware=report.hardware.name, report=report)
