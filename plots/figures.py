"""The figures of simulation results: each ``plot_*`` function builds a
:class:`matplotlib.figure.Figure` (drawn with :mod:`plots.canvas`; the run-directory figures
are :mod:`plots.run_figures`), and writes it to ``out`` (PNG or SVG, by
extension, atomically) when given.  :func:`plot` dispatches on a figure kind name (the
``accelsim plot KIND`` command).

No pyplot: figures are made with the object API on the Agg canvas, so nothing global
(backend, open-figure registry) is touched and the functions are safe in servers and tests.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from plots.canvas import (
    FORMATS,
    SPEEDUP_LABEL,
    check_passes,
    finish,
    new_figure,
    result_rows,
    unity_line,
)
from plots.data import PASS_LABELS, PASSES, TOTAL, GpuResults, PlotError, load_gpu_results
from plots.points import (
    architecture_label,
    architecture_labels,
    area_proxy,
    point_key,
    point_totals,
    sparsity_of,
    workload_label,
)
from plots.run_figures import plot_layer_density, plot_training_curves

__all__ = [
    "FIGURE_KINDS", "pareto_front", "plot", "plot_layer_speedups", "plot_lookahead_heatmap",
    "plot_pareto", "plot_speedup_vs_sparsity", "plot_validation_scatter",
]

# ---- 1. speedup vs sparsity -------------------------------------------------------------------
def plot_speedup_vs_sparsity(results: Any, out: str | os.PathLike[str] | None = None, *,
                             passes: Sequence[str] = PASSES,
                             where: Mapping[str, Any] | None = None, hardware: Any = None,
                             title: str | None = None) -> Figure:
    """Speedup vs weight sparsity, one panel per pass (forward, backward-input,
    backward-weight), one line per architecture: the SWAT Table 6 view.

    Each (architecture, sparsity) point sums the cycles of every workload it holds at that
    sparsity.  Sparsity comes from :func:`plots.data.sparsity_of`; architectures from
    :func:`plots.data.architecture_label` (give ``{label: [Report, ...]}`` to name them)."""
    passes = check_passes(passes)
    rows = result_rows(results, where, hardware)
    groups: dict[str, dict[float, list[dict[str, Any]]]] = {}
    labels = architecture_labels(rows)
    for r in rows:
        s = sparsity_of(r)
        if s is not None:
            groups.setdefault(labels[point_key(r)[1]], {}).setdefault(s, []).append(r)
    if not groups:
        raise PlotError("the results record no workload sparsity; add a 'sparsity' column "
                        "(fraction) to the rows, or simulate synthetic/trained traces whose "
                        "metadata carry it")
    fig = new_figure(3.6 * len(passes) + 0.6, 3.6)
    axes = fig.subplots(1, len(passes), sharey=True, squeeze=False)[0]
    markers = "osD^v<>ph*"
    for ax, pass_name in zip(axes, passes, strict=True):
        for i, (label, by_s) in enumerate(sorted(groups.items())):
            xs = sorted(s for s, rs in by_s.items() if any(r["pass"] == pass_name for r in rs))
            ys = [point_totals(by_s[s], pass_name).speedup for s in xs]
            if xs:
                ax.plot([100 * x for x in xs], ys, color=f"C{i % 10}",
                        marker=markers[(i + i // 10) % len(markers)],
                        linestyle=("-", "--", ":", "-.")[i // 10 % 4], label=label)
        unity_line(ax)
        ax.set_title(PASS_LABELS[pass_name])
        ax.set_xlabel("weight sparsity (%)")
    axes[0].set_ylabel(SPEEDUP_LABEL)
    axes[0].set_ylim(bottom=0)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside right center", title="architecture")
    fig.suptitle(title or "Simulated speedup vs sparsity, per pass")
    return finish(fig, out)


# ---- 2. lookahead x lookaside heatmap ---------------------------------------------------------
def _workload_names(row: Mapping[str, Any]) -> set[str]:
    trace = str(row.get("trace") or "")
    return {str(row.get("trace_digest") or ""), trace, Path(trace).name,
            workload_label(row)} - {""}


def _pick_workload(rows: list[dict[str, Any]], workload: str | None) -> list[dict[str, Any]]:
    names: dict[str, str] = {}
    for r in rows:
        names.setdefault(point_key(r)[0], workload_label(r))
    if workload is not None:
        keep = [r for r in rows if workload in _workload_names(r)
                or (len(workload) >= 6 and str(r.get("trace_digest", "")).startswith(workload))]
        if not keep:
            raise PlotError(f"no workload {workload!r} in the results; workloads: "
                            f"{', '.join(sorted(set(names.values())))}")
        return keep
    if len(names) > 1:
        raise PlotError(f"the results hold {len(names)} workloads "
                        f"({', '.join(sorted(set(names.values())))}); pick one with workload= "
                        "(--workload)")
    return rows


def plot_lookahead_heatmap(results: Any, out: str | os.PathLike[str] | None = None, *,
                           pass_name: str = "training_step", workload: str | None = None,
                           where: Mapping[str, Any] | None = None, hardware: Any = None,
                           title: str | None = None) -> Figure:
    """Heatmap of speedup over (lookahead h, lookaside d) for one workload and
    ``pass_name`` (a pass, ``backward`` or ``training_step``).  Rows need the
    ``frontend.lookahead`` and ``frontend.lookaside`` columns; dense front ends are left
    out.  When other parameters vary too, a cell shows the best point with its (h, d)."""
    rows = _pick_workload(result_rows(results, where, hardware), workload)
    rows = [r for r in rows if r.get("frontend.kind", "tcl") != "dense"]
    if not rows or not all("frontend.lookahead" in r and "frontend.lookaside" in r
                           for r in rows):
        raise PlotError("the heatmap needs results with frontend.lookahead and "
                        "frontend.lookaside columns (a sweep over a TCL front end)")
    points: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        points.setdefault(point_key(r), []).append(r)
    cells: dict[tuple[int, int], list[float]] = {}
    for prs in points.values():
        hd = (int(prs[0]["frontend.lookahead"]), int(prs[0]["frontend.lookaside"]))
        cells.setdefault(hd, []).append(point_totals(prs, pass_name).speedup)
    hs = sorted({h for h, _ in cells})
    ds = sorted({d for _, d in cells})
    grid = np.full((len(hs), len(ds)), np.nan)
    for (h, d), values in cells.items():
        grid[hs.index(h), ds.index(d)] = max(values)
    fig = new_figure(max(5.2, 0.75 * len(ds) + 2.6), max(3.4, 0.55 * len(hs) + 2.0))
    ax = fig.subplots()
    image = ax.imshow(np.ma.masked_invalid(grid), origin="lower", aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(ds)), [str(d) for d in ds])
    ax.set_yticks(range(len(hs)), [str(h) for h in hs])
    ax.grid(False)
    ax.set_xlabel("lookaside d (lanes)")
    ax.set_ylabel("lookahead h (steps)")
    finite = grid[np.isfinite(grid)]
    mid = (finite.min() + finite.max()) / 2 if finite.size else 0
    for i in range(len(hs)):
        for j in range(len(ds)):
            if np.isfinite(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.2f}×", ha="center", va="center", fontsize=8,
                        color="black" if grid[i, j] > mid else "white")
    fig.colorbar(image, ax=ax, label=f"{PASS_LABELS.get(pass_name, pass_name)} {SPEEDUP_LABEL}")
    many = max(len(v) for v in cells.values()) > 1
    fig.suptitle(title or f"Speedup over (lookahead, lookaside)\n{workload_label(rows[0])}, "
                          f"{PASS_LABELS.get(pass_name, pass_name)}"
                 + (" (best over other parameters)" if many else ""))
    return finish(fig, out)


# ---- 3. per-layer bars ------------------------------------------------------------------------
def _one_point(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    points = {point_key(r) for r in rows}
    if len(points) > 1:
        digests = sorted({r.get("hardware_digest", "") for r in rows})
        raise PlotError(f"the results hold {len(points)} design points; pick one with "
                        f"where= (--where KEY=VALUE), e.g. hardware_digest={str(digests[0])[:12]}"
                        f" or trace=...")
    return rows


def plot_layer_speedups(results: Any, out: str | os.PathLike[str] | None = None, *,
                        gpu: str | os.PathLike[str] | GpuResults | None = None,
                        passes: Sequence[str] = PASSES, where: Mapping[str, Any] | None = None,
                        hardware: Any = None, title: str | None = None) -> Figure:
    """Per-layer bars of the simulated speedup, one panel per pass, for one design point;
    with ``gpu`` (a GPU results file, see :func:`plots.data.load_gpu_results`) the
    measured GPU speedup of each layer and pass stands beside the simulated one."""
    passes = check_passes(passes)
    rows = _one_point([r for r in result_rows(results, where, hardware) if r.get("layer") != TOTAL])
    if not rows:
        raise PlotError("the results hold no per-layer rows (only totals)")
    gpu_results = load_gpu_results(gpu) if isinstance(gpu, str | os.PathLike) else gpu
    layers = list(dict.fromkeys(r["layer"] for r in rows))
    sim = {(r["layer"], r["pass"]): float(r["speedup"]) for r in rows}
    if gpu_results is not None and not any(k in sim for k in gpu_results.speedups):
        raise PlotError(f"the GPU results name none of the simulated (layer, pass) pairs; "
                        f"simulated layers: {', '.join(layers[:6])}"
                        + (" ..." if len(layers) > 6 else ""))
    shown = [p for p in passes if any(k[1] == p for k in sim)]
    if not shown:
        raise PlotError(f"the results hold none of the passes {', '.join(passes)}")
    fig = new_figure(max(6.0, 0.38 * len(layers) * (2 if gpu_results else 1) + 1.5),
                      2.3 * len(shown) + 1.2)
    axes = fig.subplots(len(shown), 1, sharex=True, squeeze=False)[:, 0]
    x = np.arange(len(layers))
    width = 0.4 if gpu_results else 0.7
    for ax, pass_name in zip(axes, shown, strict=True):
        ys = [sim.get((name, pass_name), np.nan) for name in layers]
        offset = -width / 2 if gpu_results else 0.0
        ax.bar(x + offset, ys, width, label="simulated", color="C0")
        if gpu_results is not None:
            gs = [gpu_results.speedups.get((name, pass_name), np.nan) for name in layers]
            device = f" ({gpu_results.device})" if gpu_results.device else ""
            ax.bar(x + width / 2, gs, width, label=f"measured GPU{device}", color="C1",
                   hatch="//", edgecolor="white")
        unity_line(ax)
        ax.set_ylabel(SPEEDUP_LABEL)
        ax.set_title(PASS_LABELS[pass_name], loc="left")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=len(handles))
    axes[-1].set_xticks(x, layers, rotation=60, ha="right", fontsize=7)
    axes[-1].set_xlabel("layer")
    fig.suptitle(title or f"Per-layer speedup, {workload_label(rows[0])} on "
                          f"{architecture_label(rows[0])}")
    return finish(fig, out)


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
    fig.suptitle(title or "Simulated vs measured speedup per layer and pass")
    return finish(fig, out)


# ---- 4. Pareto front --------------------------------------------------------------------------
def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points ``(cost, speedup)`` no other point beats (less or equal cost
    and more speedup, or less cost and equal speedup), by increasing cost."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -math.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def plot_pareto(results: Any, out: str | os.PathLike[str] | None = None, *,
                cost: str = "both", pass_name: str = "training_step",
                where: Mapping[str, Any] | None = None, hardware: Any = None,
                title: str | None = None) -> Figure:
    """Speedup vs cost across a sweep's hardware points, with the Pareto front.

    ``cost``: ``"area"`` (the ``area_mm2`` column when every point has it, else
    :func:`plots.data.area_proxy`), ``"energy"`` (``energy_pj`` of ``pass_name`` summed over
    the workloads, shown in µJ) or ``"both"`` (two panels; energy only when the results
    carry it).  Each point's speedup sums the cycles of every workload it ran."""
    if cost not in ("area", "energy", "both"):
        raise PlotError(f"unknown cost {cost!r}; choose area, energy or both")
    rows = result_rows(results, where, hardware)
    by_hw: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_hw.setdefault(point_key(r)[1], []).append(r)
    speedup, area, energy, names = [], [], [], []
    labels = architecture_labels(rows)
    has_mm2 = all(any(r.get("area_mm2") not in (None, "") for r in rs) for rs in by_hw.values())
    for rs in by_hw.values():
        t = point_totals(rs, pass_name)
        speedup.append(t.speedup)
        energy.append(t.energy_pj / 1e6)
        area.append(float(next(r["area_mm2"] for r in rs if r.get("area_mm2") not in (None, "")))
                    if has_mm2 else area_proxy(rs[0]))
        names.append(labels[point_key(rs[0])[1]])
    panels: list[tuple[str, list[float]]] = []
    if cost in ("area", "both"):
        panels.append(("area (mm²)" if has_mm2 else "relative area (MAC lanes × mux cost, "
                                                    "proxy)", area))
    if cost in ("energy", "both"):
        if any(e > 0 for e in energy):
            panels.append((f"energy per {PASS_LABELS.get(pass_name, pass_name)} (µJ)", energy))
        elif cost == "energy":
            raise PlotError("the results carry no energy (energy_pj is 0 everywhere); "
                            "use cost='area'")
    fig = new_figure(4.6 * len(panels) + 0.4, 3.8)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (xlabel, xs) in zip(axes, panels, strict=True):
        pts = list(zip(xs, speedup, strict=True))
        front = pareto_front(pts)
        ax.scatter(xs, speedup, s=18, color="0.6", label=f"design points ({len(pts)})")
        ax.plot([xs[i] for i in front], [speedup[i] for i in front], marker="o", color="C3",
                drawstyle="steps-post", label="Pareto front")
        for i in front[:12]:
            ax.annotate(names[i], (xs[i], speedup[i]), textcoords="offset points",
                        xytext=(4, 4), fontsize=7)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"{PASS_LABELS.get(pass_name, pass_name)} {SPEEDUP_LABEL}")
        ax.legend(loc="lower right")
    fig.suptitle(title or f"Speedup vs cost across {len(speedup)} hardware point(s)")
    return finish(fig, out)


# ---- dispatch ---------------------------------------------------------------------------------
#: figure kind -> (function, what it reads)
FIGURE_KINDS: dict[str, tuple[Callable[..., Figure], str]] = {
    "sparsity": (plot_speedup_vs_sparsity, "results"),
    "heatmap": (plot_lookahead_heatmap, "results"),
    "layers": (plot_layer_speedups, "results"),
    "pareto": (plot_pareto, "results"),
    "training": (plot_training_curves, "run"),
    "density": (plot_layer_density, "run"),
}


def plot(kind: str, source: Any, out: str | os.PathLike[str] | None = None,
         **options: Any) -> Figure:
    """Build (and write, when ``out`` is given) the figure ``kind`` -- one of
    :data:`FIGURE_KINDS` -- from ``source`` (results for sparsity/heatmap/layers/pareto, a
    run directory for training/density); ``options`` go to the figure's function."""
    if kind not in FIGURE_KINDS:
        raise PlotError(f"unknown figure kind {kind!r}; choose one of {', '.join(FIGURE_KINDS)}")
    func, reads = FIGURE_KINDS[kind]
    if reads == "run" and isinstance(source, list | tuple):
        if len(source) != 1:
            raise PlotError(f"the {kind} figure reads one run directory, got {len(source)} inputs")
        source = source[0]
    if out is not None:
        suffix = Path(out).suffix.lower()
        if suffix not in FORMATS:
            raise PlotError(f"cannot write a figure to {Path(out).name}: use a .png or .svg "
                            "file name")
    return func(source, out, **options)
