"""Figures of a GPU validation (:func:`accelsim.validate.validate`): the scatter of simulated
against measured speedups and the per-layer bars."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from accelsim.measured import GpuResults
from accelsim.trace.schema import PASSES
from accelsim.validate import FIGURE_NAMES, ValidationError, ValidationResult
from plots.canvas import finish, new_figure
from plots.data import PASS_LABELS, PlotError
from plots.figures import plot_layer_speedups

__all__ = ["plot_validation_scatter", "write_figures"]


def _validation_points(rows: Sequence[Mapping[str, Any]]
                       ) -> list[tuple[str, str, float, float]]:
    """``(layer, pass, simulated, measured)`` of each row, checked (positive, finite)."""
    points = []
    for i, r in enumerate(rows):
        try:
            sim, meas = float(r["simulated"]), float(r["measured"])
            layer, pass_name = str(r["layer"]), str(r["pass"])
        except (KeyError, TypeError, ValueError):
            raise PlotError(f"validation row {i} needs layer, pass, simulated and measured "
                            f"speedups, got {r!r}") from None
        if not (math.isfinite(sim) and math.isfinite(meas) and sim > 0 and meas > 0):
            raise PlotError(f"validation row {i} ({layer} {pass_name}) has speedups "
                            f"{sim} (simulated) and {meas} (measured); both must be positive")
        points.append((layer, pass_name, sim, meas))
    if not points:
        raise PlotError("no (layer, pass) pair to plot: the simulated and measured results "
                        "share none")
    return points


def _log_unity_axes(ax: Any, lo: float, hi: float) -> None:
    """Equal log-log axes over [lo, hi] with the y = x line, the unity lines and ticks at
    1, 2, 5 x powers of ten."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal", adjustable="box")
    ax.plot([lo, hi], [lo, hi], color="0.35", linewidth=1.0, linestyle="--", zorder=1,
            label="y = x (measured = simulated)")
    ax.axhline(1.0, color="0.6", linewidth=0.8, linestyle=":", zorder=0)
    ax.axvline(1.0, color="0.6", linewidth=0.8, linestyle=":", zorder=0)
    for axis in (ax.xaxis, ax.yaxis):  # 0.5, 1, 2, 5, 10 ... rather than powers of ten
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_formatter(NullFormatter())


def plot_validation_scatter(rows: Sequence[Mapping[str, Any]],
                            out: str | os.PathLike[str] | None = None, *,
                            simulated_label: str = "accelerator",
                            measured_label: str = "GPU", baseline: str = "dense fp32",
                            note: str | None = None, title: str | None = None,
                            annotate: int = 12) -> Figure:
    """Simulated vs measured speedup, one point per layer and pass (``rows``: mappings with
    ``layer``, ``pass``, ``simulated`` and ``measured``, e.g. the ``rows`` of
    :meth:`accelsim.validate.ValidationResult.to_dict`), on log-log axes with the y = x
    line (points below it: the GPU gains less than the accelerator) and the unity lines.
    One marker per pass; with at most ``annotate`` points each is labelled with its layer.
    ``note`` (e.g. the rank correlation and the ratio) is written in the upper-left corner."""
    points = _validation_points(rows)
    fig = new_figure(5.8, 6.0)
    ax = fig.subplots()
    values = [v for _, _, s, m in points for v in (s, m)] + [1.0]
    lo, hi = min(values) / 1.3, max(values) * 1.3
    _log_unity_axes(ax, lo, hi)
    passes = [p for p in PASSES if any(pt[1] == p for pt in points)]
    passes += sorted({pt[1] for pt in points} - set(passes))
    markers = ("o", "s", "^", "D", "v")
    for k, pass_name in enumerate(passes):
        sel = [pt for pt in points if pt[1] == pass_name]
        ax.scatter([pt[2] for pt in sel], [pt[3] for pt in sel], s=30, zorder=3,
                   marker=markers[k % len(markers)], color=f"C{k}", edgecolor="white",
                   linewidth=0.5, label=PASS_LABELS.get(pass_name, pass_name))
    if len(points) <= annotate:
        for layer, _, sim, meas in points:
            ax.annotate(layer, (sim, meas), xytext=(4, 3), textcoords="offset points",
                        fontsize=7, color="0.25")
    ax.set_xlabel(f"simulated speedup on {simulated_label} (× over dense)")
    ax.set_ylabel(f"measured speedup on {measured_label} (× over {baseline})")
    if note:
        ax.text(0.03, 0.97, note, transform=ax.transAxes, va="top", ha="left", fontsize=8,
                bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85,
                      "edgecolor": "0.7"})
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2)
    fig.suptitle(title or "Simulated vs measured speedup per layer and pass", wrap=True)
    return finish(fig, out)




def write_figures(result: ValidationResult, out_dir: str | os.PathLike[str], *,
                  fmt: str = "png") -> list[str]:
    """Write ``validation-scatter.FMT`` (simulated vs measured, one point per layer and
    pass) and ``validation-layers.FMT`` (per-layer bars, simulated beside measured) into
    ``out_dir`` (created), each atomically.  Returns the paths."""
    if fmt not in ("png", "svg"):
        raise ValidationError(f"figure format {fmt!r}: choose png or svg")
    if result.report is None:
        raise ValidationError("this ValidationResult carries no simulation report to plot")
    out = Path(out_dir)
    scatter, layers = (out / f"{name}.{fmt}" for name in FIGURE_NAMES)
    device = result.device or "GPU"
    rho = f"{result.spearman:.2f}" if math.isfinite(result.spearman) else "n/a"
    note = (f"Spearman ρ = {rho}\ngeo-mean measured/simulated = {result.geomean_ratio:.2f}\n"
            f"{result.matched} layer-pass pairs")
    plot_validation_scatter([r.to_dict() for r in result.rows], scatter,
                            simulated_label=result.hardware or "accelerator",
                            measured_label=device, baseline=result.baseline.replace("_", " "),
                            note=note)
    measured = GpuResults({(r.layer, r.pass_name): r.measured for r in result.rows},
                          result.device, result.gpu_results)
    shown = tuple(p for p in PASSES if any(r.pass_name == p for r in result.rows))
    plot_layer_speedups(result.report, layers, gpu=measured, passes=shown,
                        title=f"Simulated vs measured on {device} (over "
                              f"{result.baseline.replace('_', ' ')}) per layer")
    return [str(scatter), str(layers)]
