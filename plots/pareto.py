"""The Pareto figure: performance of a sweep's hardware points against their area and energy,
with the front of the points no other point beats.

Performance is the speedup over the reference machine the rows name (reference time / time)
or, without a reference, steps per second (1 / time): either way, more is faster.  Area is
the point's ``area_mm2`` (the area model) when every point has it; otherwise the relative
proxy :func:`plots.points.area_proxy`, which models bit-parallel lanes only and so is not
drawn for a bit-serial back end (it would count a bit-serial column as a full PE)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.figure import Figure

from plots.canvas import finish, new_figure, result_rows
from plots.data import PASS_LABELS, PlotError
from plots.points import (
    Totals,
    architecture_labels,
    area_proxy,
    point_key,
    point_totals,
    speedup_label,
    uses_reference,
)
from plots.titles import context_line, wrap_title

__all__ = ["pareto_front", "plot_pareto"]

BIT_PARALLEL = ("bit-parallel", None, "")


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points ``(cost, performance)`` no other point beats (less or equal
    cost and more performance, or less cost and equal performance), by increasing cost."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -math.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def _performance(totals: list[Totals], rows: list[dict[str, Any]], pass_name: str
                 ) -> tuple[list[float], str]:
    """Per point: speedup over the reference, else steps per second (1 / time); the label."""
    if uses_reference(rows):
        return [t.speedup for t in totals], f"{PASS_LABELS.get(pass_name, pass_name)} " \
                                            f"{speedup_label(rows)}"
    if all(t.time_s for t in totals):
        return ([1.0 / t.time_s for t in totals],   # type: ignore[operator]
                f"{PASS_LABELS.get(pass_name, pass_name)}s per second (1 / time)")
    raise PlotError("the results give neither the reference machine's time nor the clock "
                    "(array.clock_ghz) of every point; the Pareto front needs times")


def _area(by_hw: Mapping[str, list[dict[str, Any]]]) -> tuple[list[float], str] | str:
    """Per point: area and the axis label, or why no area can be drawn."""
    mm2 = [next((r["area_mm2"] for r in rs if r.get("area_mm2") not in (None, "")), None)
           for rs in by_hw.values()]
    if all(v is not None for v in mm2):
        return [float(v) for v in mm2], "area (mm²)"   # type: ignore[arg-type]
    serial = sorted({str(rs[0].get("backend.kind")) for rs in by_hw.values()
                     if rs[0].get("backend.kind") not in BIT_PARALLEL})
    if serial:
        return (f"no area model in the results (area_mm2) and the relative proxy cannot "
                f"cost a {', '.join(serial)} back end")
    return ([area_proxy(rs[0]) for rs in by_hw.values()],
            "relative area (MAC lanes × mux cost, proxy)")


def plot_pareto(results: Any, out: str | os.PathLike[str] | None = None, *,
                cost: str = "both", pass_name: str = "training_step",
                where: Mapping[str, Any] | None = None, hardware: Any = None, reference: Any = None,
                title: str | None = None) -> Figure:
    """Performance vs cost across a sweep's hardware points, with the Pareto front.

    ``cost``: ``"area"`` (see the module doc), ``"energy"`` (``energy_pj`` of ``pass_name``
    summed over the workloads, shown in µJ) or ``"both"`` (two panels; each only when the
    results carry it).  Each point's time sums every workload it ran."""
    if cost not in ("area", "energy", "both"):
        raise PlotError(f"unknown cost {cost!r}; choose area, energy or both")
    everything, rows = result_rows(results, where, hardware, reference)
    by_hw: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_hw.setdefault(point_key(r)[1], []).append(r)
    totals = [point_totals(rs, pass_name) for rs in by_hw.values()]
    perf, ylabel = _performance(totals, rows, pass_name)
    labels = architecture_labels(rows)
    names = [labels[point_key(rs[0])[1]] for rs in by_hw.values()]
    panels: list[tuple[str, list[float]]] = []
    notes: list[str] = []
    if cost in ("area", "both"):
        area = _area(by_hw)
        if isinstance(area, str):
            if cost == "area":
                raise PlotError(f"{area}; use cost='energy'")
            notes.append(f"area not drawn: {area}")
        else:
            panels.append((area[1], area[0]))
    if cost in ("energy", "both"):
        energy = [t.energy_pj / 1e6 for t in totals]
        if any(e > 0 for e in energy):
            panels.append((f"energy per {PASS_LABELS.get(pass_name, pass_name)} (µJ)", energy))
        elif cost == "energy" or not panels:
            raise PlotError("the results carry no energy (energy_pj is 0 everywhere); "
                            "use cost='area'")
    fig = new_figure(4.6 * len(panels) + 0.4, 4.2)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (xlabel, xs) in zip(axes, panels, strict=True):
        pts = list(zip(xs, perf, strict=True))
        front = pareto_front(pts)
        ax.scatter(xs, perf, s=18, color="0.6", label=f"design points ({len(pts)})")
        ax.plot([xs[i] for i in front], [perf[i] for i in front], marker="o", color="C3",
                drawstyle="steps-post", label="Pareto front")
        for i in front[:12]:
            ax.annotate(names[i], (xs[i], perf[i]), textcoords="offset points",
                        xytext=(4, 4), fontsize=7)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
    handles, legend = axes[0].get_legend_handles_labels()
    fig.legend(handles, legend, loc="outside lower center", ncols=2)
    fig.suptitle(title or wrap_title(
        f"Performance vs cost across {len(perf)} hardware point(s)",
        context_line(everything, rows, where), *notes), wrap=True)
    return finish(fig, out)
