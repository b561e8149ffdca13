"""The figures of simulation results: each ``plot_*`` function builds a
:class:`matplotlib.figure.Figure` (drawn with :mod:`plots.canvas`; the run-directory figures
are :mod:`plots.run_figures`, the validation scatter :mod:`plots.validation`), and writes it
to ``out`` (PNG or SVG, by extension, atomically) when given.  :func:`plot` dispatches on a
figure kind name (the ``accelsim plot KIND`` command) and takes ``dpi`` and ``figsize``.

One yardstick: speedups are against the reference machine the rows name (reference time /
time), or, when the rows carry none, against each design's own dense twin (the axis says
which); "fastest" always means least time (cycles / clock), never the largest speedup.
Titles state the fixed parameters and the ``where`` filters (:mod:`plots.titles`).

No pyplot: figures are made with the object API on the Agg canvas, so nothing global
(backend, open-figure registry) is touched and the functions are safe in servers and tests.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from plots.canvas import (
    DPI,
    FORMATS,
    check_dpi,
    check_figsize,
    check_passes,
    finish,
    new_figure,
    resize,
    result_rows,
    save_figure,
    unity_line,
)
from plots.data import PASS_LABELS, PASSES, TOTAL, GpuResults, PlotError, load_gpu_results
from plots.pareto import pareto_front, plot_pareto
from plots.points import (
    architecture_label,
    architecture_labels,
    point_key,
    point_totals,
    row_speedup,
    sparsity_of,
    speedup_label,
    speedup_of,
    uses_reference,
    workload_label,
)
from plots.run_figures import plot_layer_density, plot_training_curves
from plots.titles import context_line, wrap_title

__all__ = [
    "FIGURE_KINDS", "pareto_front", "plot", "plot_layer_speedups", "plot_lookahead_heatmap",
    "plot_pareto", "plot_speedup_vs_sparsity",
]

#: inches of figure width per character of the longest legend entry (outside legends)
LEGEND_INCH_PER_CHAR = 0.075
#: characters per line of a legend entry (longer names wrap)
LEGEND_CHARS = 28


def legend_label(text: str) -> str:
    """A legend entry wrapped at :data:`LEGEND_CHARS` characters per line, so that a long
    architecture name never pushes the legend off the figure."""
    return "\n".join(textwrap.wrap(text, LEGEND_CHARS, break_long_words=True)) or text


# ---- 1. speedup vs sparsity -------------------------------------------------------------------
def plot_speedup_vs_sparsity(results: Any, out: str | os.PathLike[str] | None = None, *,
                             passes: Sequence[str] = PASSES,
                             where: Mapping[str, Any] | None = None, hardware: Any = None, reference: Any = None,
                             title: str | None = None) -> Figure:
    """Speedup vs weight sparsity, one panel per pass (forward, backward-input,
    backward-weight), one line per architecture: the SWAT Table 6 view.

    Each (architecture, sparsity) point sums the time of every workload it holds at that
    sparsity.  Sparsity comes from :func:`plots.points.sparsity_of`; architectures from
    :func:`plots.points.architecture_labels` (give ``{label: [Report, ...]}`` to name them)."""
    passes = check_passes(passes)
    everything, rows = result_rows(results, where, hardware, reference)
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
    against = uses_reference(rows)
    legend_w = LEGEND_INCH_PER_CHAR * min(max(len(k) for k in groups), LEGEND_CHARS) + 0.6
    fig = new_figure(3.6 * len(passes) + 0.6 + legend_w, 3.9)
    axes = fig.subplots(1, len(passes), sharey=True, squeeze=False)[0]
    markers = "osD^v<>ph*"
    for ax, pass_name in zip(axes, passes, strict=True):
        for i, (label, by_s) in enumerate(sorted(groups.items())):
            xs = sorted(s for s, rs in by_s.items() if any(r["pass"] == pass_name for r in rs))
            ys = [speedup_of(point_totals(by_s[s], pass_name), against) for s in xs]
            if xs:
                ax.plot([100 * x for x in xs], ys, color=f"C{i % 10}",
                        marker=markers[(i + i // 10) % len(markers)],
                        linestyle=("-", "--", ":", "-.")[i // 10 % 4],
                        label=legend_label(label))
        unity_line(ax)
        ax.set_title(PASS_LABELS[pass_name])
        ax.set_xlabel("weight sparsity (%)")
    axes[0].set_ylabel(speedup_label(rows))
    axes[0].set_ylim(bottom=0)
    handles, names = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, names, loc="outside right center", title="architecture")
    fig.suptitle(title or wrap_title("Simulated speedup vs sparsity, per pass",
                                     context_line(everything, rows, where)), wrap=True)
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


HD = ("frontend.lookahead", "frontend.lookaside")


def _heatmap_cells(rows: list[dict[str, Any]], pass_name: str, against: bool
                   ) -> tuple[dict[tuple[int, int], float], bool]:
    """Per (h, d): the speedup of its fastest point (least time); and whether any cell
    held several points."""
    points: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        points.setdefault(point_key(r), []).append(r)
    cells: dict[tuple[int, int], list[Any]] = {}
    for prs in points.values():
        hd = (int(prs[0][HD[0]]), int(prs[0][HD[1]]))
        cells.setdefault(hd, []).append(point_totals(prs, pass_name))
    best = {hd: speedup_of(min(ts, key=lambda t: t.rank), against) for hd, ts in cells.items()}
    return best, max(len(ts) for ts in cells.values()) > 1


def plot_lookahead_heatmap(results: Any, out: str | os.PathLike[str] | None = None, *,
                           pass_name: str = "training_step", workload: str | None = None,
                           where: Mapping[str, Any] | None = None, hardware: Any = None, reference: Any = None,
                           title: str | None = None) -> Figure:
    """Heatmap of speedup over (lookahead h, lookaside d) for one workload and
    ``pass_name`` (a pass, ``backward`` or ``training_step``).  Rows need the
    ``frontend.lookahead`` and ``frontend.lookaside`` columns; dense front ends are left
    out.  When other parameters vary too, a cell shows its fastest point (least time) and
    the title names what it was chosen among."""
    everything, rows = result_rows(results, where, hardware, reference)
    rows = _pick_workload(rows, workload)
    rows = [r for r in rows if r.get("frontend.kind", "tcl") != "dense"]
    if not rows or not all(HD[0] in r and HD[1] in r for r in rows):
        raise PlotError("the heatmap needs results with frontend.lookahead and "
                        "frontend.lookaside columns (a sweep over a TCL front end)")
    against = uses_reference(rows)
    cells, many = _heatmap_cells(rows, pass_name, against)
    hs = sorted({h for h, _ in cells})
    ds = sorted({d for _, d in cells})
    grid = np.full((len(hs), len(ds)), np.nan)
    for (h, d), value in cells.items():
        grid[hs.index(h), ds.index(d)] = value
    fig = new_figure(max(5.6, 0.75 * len(ds) + 2.6), max(3.8, 0.55 * len(hs) + 2.4))
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
    fig.colorbar(image, ax=ax, label=f"{PASS_LABELS.get(pass_name, pass_name)} "
                                     f"{speedup_label(rows)}")
    fig.suptitle(title or wrap_title(
        "Speedup over (lookahead, lookaside)",
        f"{workload_label(rows[0])}, {PASS_LABELS.get(pass_name, pass_name)}",
        context_line(everything, rows, where, axes=HD, fastest_of=many)), wrap=True)
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


def network_order(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The layers of ``rows`` in network order: by ``layer_index`` when the rows carry it,
    else in the order they first appear."""
    first: dict[str, tuple[float, int]] = {}
    for i, r in enumerate(rows):
        index = r.get("layer_index")
        key = (float(index) if isinstance(index, int | float) and not isinstance(index, bool)
               and index >= 0 else float("inf"), i)
        if r["layer"] not in first or key < first[r["layer"]]:
            first[r["layer"]] = key
    return sorted(first, key=lambda name: first[name])


def plot_layer_speedups(results: Any, out: str | os.PathLike[str] | None = None, *,
                        gpu: str | os.PathLike[str] | GpuResults | None = None,
                        passes: Sequence[str] = PASSES, where: Mapping[str, Any] | None = None,
                        hardware: Any = None, reference: Any = None, title: str | None = None) -> Figure:
    """Per-layer bars of the simulated speedup, one panel per pass, for one design point,
    layers in network order; with ``gpu`` (a GPU results file, see
    :func:`plots.data.load_gpu_results`) the measured GPU speedup of each layer and pass
    stands beside the simulated one."""
    passes = check_passes(passes)
    everything, rows = result_rows(results, where, hardware, reference)
    rows = _one_point([r for r in rows if r.get("layer") != TOTAL])
    if not rows:
        raise PlotError("the results hold no per-layer rows (only totals)")
    gpu_results = load_gpu_results(gpu) if isinstance(gpu, str | os.PathLike) else gpu
    layers = network_order(rows)
    against = uses_reference(rows)
    sim = {(r["layer"], r["pass"]): row_speedup(r, against) for r in rows}
    if gpu_results is not None and not any(k in sim for k in gpu_results.speedups):
        raise PlotError(f"the GPU results name none of the simulated (layer, pass) pairs; "
                        f"simulated layers: {', '.join(layers[:6])}"
                        + (" ..." if len(layers) > 6 else ""))
    shown = [p for p in passes if any(k[1] == p for k in sim)]
    if not shown:
        raise PlotError(f"the results hold none of the passes {', '.join(passes)}")
    fig = new_figure(max(6.0, 0.38 * len(layers) * (2 if gpu_results else 1) + 1.5),
                      2.3 * len(shown) + 1.6)
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
        ax.set_ylabel(speedup_label(rows))
        ax.set_title(PASS_LABELS[pass_name], loc="left")
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncols=len(handles))
    axes[-1].set_xticks(x, layers, rotation=60, ha="right", fontsize=7)
    axes[-1].set_xlabel("layer (network order)")
    name = architecture_labels(rows)[point_key(rows[0])[1]] or architecture_label(rows[0])
    fig.suptitle(title or wrap_title(f"Per-layer speedup, {workload_label(rows[0])} on {name}",
                                     context_line(everything, rows, where)), wrap=True)
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


def plot(kind: str, source: Any, out: str | os.PathLike[str] | None = None, *,
         dpi: int = DPI, figsize: Sequence[float] | None = None, **options: Any) -> Figure:
    """Build (and write, when ``out`` is given) the figure ``kind`` -- one of
    :data:`FIGURE_KINDS` -- from ``source`` (results for sparsity/heatmap/layers/pareto, a
    run directory for training/density); ``options`` go to the figure's function.
    ``figsize``: (width, height) in inches instead of the figure's own size; ``dpi``: dots
    per inch of a PNG (and of the raster parts of an SVG)."""
    if kind not in FIGURE_KINDS:
        raise PlotError(f"unknown figure kind {kind!r}; choose one of {', '.join(FIGURE_KINDS)}")
    func, reads = FIGURE_KINDS[kind]
    if reads == "run" and isinstance(source, list | tuple):
        if len(source) != 1:
            raise PlotError(f"the {kind} figure reads one run directory, got {len(source)} inputs")
        source = source[0]
    check_dpi(dpi)
    if figsize is not None:
        check_figsize(figsize)
    if out is not None:
        suffix = Path(out).suffix.lower()
        if suffix not in FORMATS:
            raise PlotError(f"cannot write a figure to {Path(out).name}: use a .png or .svg "
                            "file name")
    fig = resize(func(source, None, **options), figsize)
    if out is not None:
        save_figure(fig, out, dpi=dpi)
    return fig
