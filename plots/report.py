"""One self-contained HTML page for sharing a run or a set of simulation results.

:func:`build_report` writes a single ``.html`` file: what was run (training config,
hardware, workloads), the training curves and per-layer densities of a run directory, the
per-point totals and the per-layer per-pass table of the simulated speedups, the GPU
comparison when a GPU results file is given, the figures that apply (inline SVG), and the
accelsim version and date.  No external assets: no scripts, style sheets, fonts or images
are fetched.
"""

from __future__ import annotations

import datetime as _dt
import html
import os
import platform
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

from accelsim import __version__
from accelsim.api import simulate_trace
from accelsim.errors import AccelsimError
from accelsim.fileio import atomic_write
from accelsim.rundir import CONFIG_NAME, is_run_dir
from plots.canvas import figure_svg
from plots.data import (
    COMPONENTS,
    PASS_LABELS,
    TOTAL,
    GpuResults,
    PlotError,
    load_gpu_results,
    load_rows,
)
from plots.figures import (
    plot_layer_speedups,
    plot_lookahead_heatmap,
    plot_pareto,
    plot_speedup_vs_sparsity,
)
from plots.points import architecture_labels, point_key, point_totals, sparsity_of, workload_label
from plots.run_figures import plot_layer_density, plot_training_curves
from plots.runs import RunData, load_run

__all__ = ["build_report", "inline_svg"]

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;padding-bottom:.2em;
margin-top:1.8em}h3{font-size:1em}
table{border-collapse:collapse;margin:.6em 0;font-size:.85em}
th,td{border:1px solid #ddd;padding:.2em .55em;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}
figure{margin:1em 0}figure svg{max-width:100%;height:auto}
figcaption{font-size:.85em;color:#555}.note{color:#555;font-size:.9em}
footer{margin-top:2.5em;font-size:.8em;color:#666;border-top:1px solid #ccc;padding-top:.5em}
"""
MAX_LAYER_ROWS = 400


# ---- html helpers -----------------------------------------------------------------------------
def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def inline_svg(svg: str, prefix: str) -> str:
    """SVG text made embeddable in HTML: no XML prolog, DOCTYPE or RDF metadata, and every
    ``id`` (and the ``url(#...)``/``href="#..."`` references to it) prefixed with
    ``prefix`` so that several figures on one page do not clash."""
    svg = re.sub(r"<\?xml[^>]*\?>", "", svg)
    svg = re.sub(r"<!DOCTYPE[^>]*>", "", svg)
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)
    svg = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}{m.group(1)}"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}{m.group(1)})", svg)
    svg = re.sub(r'href="#([^"]+)"', lambda m: f'href="#{prefix}{m.group(1)}"', svg)
    return svg.strip()


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], left: int = 1) -> str:
    head = "".join(f'<th{" class=l" if i < left else ""}>{_e(h)}</th>'
                   for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f'<td{" class=l" if i < left else ""}>{_e(c)}</td>'
                                     for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _x(v: float) -> str:
    return f"{v:.2f}×"


def _n(v: Any) -> str:
    try:
        return f"{int(round(float(v))):,}"
    except (TypeError, ValueError):
        return "-"


def _pct(v: Any) -> str:
    return f"{100 * v:.1f}%" if isinstance(v, int | float) and not isinstance(v, bool) else "-"


class _Page:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.sections: list[str] = []
        self.figures = 0

    def section(self, title: str) -> None:
        anchor = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
        self.sections.append(f'<li><a href="#{anchor}">{_e(title)}</a></li>')
        self.parts.append(f'<h2 id="{anchor}">{_e(title)}</h2>')

    def add(self, text: str) -> None:
        self.parts.append(text)

    def figure(self, fig: Any, caption: str) -> None:
        self.figures += 1
        svg = inline_svg(figure_svg(fig), f"f{self.figures}-")
        self.parts.append(f"<figure>{svg}<figcaption>Figure {self.figures}. {_e(caption)}"
                          "</figcaption></figure>")

    def try_figure(self, build: Any, caption: str) -> None:
        try:
            self.figure(build(), caption)
        except PlotError as exc:
            self.add(f'<p class="note">{_e(caption)}: not drawn ({_e(exc)}).</p>')


# ---- sections ---------------------------------------------------------------------------------
def _run_section(page: _Page, run: RunData) -> None:
    page.section("What was run")
    if run.config:
        items = [(k, v) for k, v in run.config.items() if not isinstance(v, dict | list)
                 or v]
        page.add(_table(["setting", "value"], [(k, v) for k, v in items], left=2))
    else:
        page.add(f'<p class="note">{_e(run.path)} has no {CONFIG_NAME}.</p>')
    if run.traces:
        page.add(f"<p>{len(run.traces)} trace(s) recorded; the latest, "
                 f"<code>{_e(run.traces[-1].name)}</code>, is simulated below.</p>")


def _training_section(page: _Page, run: RunData) -> None:
    page.section("Training")
    rows = []
    for r in run.metrics:
        act = (r.get("activation_density") or {})
        act = act.get("train") or act.get("test") or {}
        dn = r.get("dead_neurons") or {}
        rows.append([int(r.get("epoch", 0)) + 1, r.get("phase") or "",
                     f"{(r.get('train') or {}).get('loss', float('nan')):.4f}",
                     _pct((r.get("train") or {}).get("accuracy")),
                     f"{(r.get('test') or {}).get('loss', float('nan')):.4f}",
                     _pct((r.get("test") or {}).get("accuracy")),
                     _pct((r.get("weight_density") or {}).get("overall")),
                     _pct(act.get("overall")), _pct(dn.get("dnr"))])
    page.add(_table(["epoch", "phase", "train loss", "train acc.", "test loss", "test acc.",
                     "weight density", "activation density", "DNR"], rows, left=2))
    page.figure(plot_training_curves(run), "Training curves: loss, accuracy, density and "
                                           "dead-neuron rate per epoch.")
    page.try_figure(lambda: plot_layer_density(run),
                    "Per-layer density and dead-neuron rate of the last epoch.")


def _hardware_table(rows: list[dict[str, Any]]) -> str:
    points: dict[str, dict[str, Any]] = {}
    for r in rows:
        points.setdefault(point_key(r)[1], r)
    keys = sorted({k for r in points.values() for k in r if "." in k
                   and not k.startswith(("energy.", "hardware.", "workload.", "method_params."))})
    varying = [k for k in keys if len({str(r.get(k)) for r in points.values()}) > 1]
    labels = architecture_labels(rows)
    shown = list(points.values())[:50]
    if len(points) == 1:
        r = shown[0]
        return _table(["hardware parameter", "value"],
                      [("name", r.get("hardware.name", "")),
                       ("digest", str(r.get("hardware_digest", ""))[:16]),
                       *((k, r.get(k)) for k in keys)], left=2)
    cols = varying or keys[:8]
    return (f"<p>{len(points)} hardware points; the parameters that vary:</p>"
            + _table(["architecture", "digest", *cols],
                     [[labels[point_key(r)[1]], str(r.get("hardware_digest", ""))[:12],
                       *(r.get(k) for k in cols)] for r in shown], left=2)
            + (f'<p class="note">first 50 of {len(points)} shown.</p>'
               if len(points) > 50 else ""))


def _totals_section(page: _Page, points: dict[tuple[str, str], list[dict[str, Any]]],
                    labels: dict[str, str]) -> list[dict[str, Any]]:
    """The per-point totals table; returns the rows of the fastest point (training step)."""
    page.section("Totals")
    total_rows = []
    ranked = []
    for rs in points.values():
        t = {p: point_totals(rs, p) for p in COMPONENTS}
        ranked.append((t["training_step"].speedup, rs))
        s = sparsity_of(rs[0])
        total_rows.append([workload_label(rs[0]), labels[point_key(rs[0])[1]],
                           "-" if s is None else f"{100 * s:.0f}%",
                           *(_x(t[p].speedup) for p in COMPONENTS),
                           _n(t["training_step"].base_cycles),
                           _n(t["training_step"].compute_cycles + t["training_step"].stall_cycles),
                           _n(t["training_step"].stall_cycles),
                           f"{t['training_step'].energy_pj / 1e6:.3f}"])
    total_rows.sort(key=lambda r: (r[0], r[1], r[2]))
    page.add("<p>Speedup = dense baseline cycles / (compute + stall cycles), per pass and "
             "summed over the passes.</p>")
    page.add(_table(["workload", "architecture", "sparsity",
                     *(PASS_LABELS[p] for p in COMPONENTS), "dense cycles", "cycles",
                     "stall cycles", "energy (µJ)"], total_rows, left=2))
    return max(ranked, key=lambda x: x[0])[1]


def _layers_section(page: _Page, best: list[dict[str, Any]], n_points: int,
                    labels: dict[str, str], gpu: GpuResults | None) -> list[dict[str, Any]]:
    """The per-layer table and figure of ``best``; returns its layer rows."""
    layer_rows = [r for r in best if r.get("layer") != TOTAL]
    page.section("Per-layer results" if n_points == 1 else
                 "Per-layer results of the fastest design point")
    if n_points > 1:
        page.add(f"<p>{_e(workload_label(best[0]))} on {_e(labels[point_key(best[0])[1]])} "
                 f"(hardware {_e(str(best[0].get('hardware_digest', ''))[:12])}).</p>")
    if not layer_rows:
        page.add('<p class="note">the results hold totals only.</p>')
        return layer_rows
    table = [[r["layer"], PASS_LABELS.get(r["pass"], r["pass"]), _n(r.get("base_cycles")),
              _n(r.get("compute_cycles")), _n(r.get("ideal_cycles")),
              _n(r.get("stall_cycles")), _x(float(r.get("speedup") or 0)),
              f"{float(r.get('energy_pj') or 0) / 1e6:.4f}"]
             for r in layer_rows[:MAX_LAYER_ROWS]]
    page.add(_table(["layer", "pass", "dense cycles", "compute cycles", "ideal cycles",
                     "stall cycles", "speedup", "energy (µJ)"], table, left=2))
    page.try_figure(lambda: plot_layer_speedups(best, gpu=gpu),
                    "Simulated speedup per layer and pass"
                    + (", with the measured GPU speedup beside it." if gpu else "."))
    return layer_rows


def _gpu_section(page: _Page, gpu: GpuResults, layer_rows: list[dict[str, Any]]) -> None:
    page.section("GPU comparison")
    sim = {(r["layer"], r["pass"]): float(r.get("speedup") or 0) for r in layer_rows}
    both = [(k, v) for k, v in gpu.speedups.items() if k in sim]
    page.add(f"<p>Measured on {_e(gpu.device or 'the GPU')}"
             f"{' (' + _e(gpu.source) + ')' if gpu.source else ''}: "
             f"{len(both)} of {len(gpu.speedups)} (layer, pass) pairs match the "
             "simulated ones.</p>")
    page.add(_table(["layer", "pass", "simulated speedup", "GPU speedup"],
                    [[k[0], PASS_LABELS.get(k[1], k[1]), _x(sim[k]), _x(v)]
                     for k, v in both], left=2))


def _sweep_section(page: _Page, rows: list[dict[str, Any]]) -> None:
    """The sweep figures that apply: over sparsity, over (h, d), over hardware points."""
    sparsities = {sparsity_of(r) for r in rows} - {None}
    cells = {(r.get("frontend.lookahead"), r.get("frontend.lookaside")) for r in rows
             if r.get("frontend.kind", "tcl") != "dense" and "frontend.lookahead" in r}
    hw_points = {point_key(r)[1] for r in rows}
    if len(sparsities) > 1 or len(cells) > 1 or len(hw_points) > 1:
        page.section("Sweep figures")
    if len(sparsities) > 1:
        page.try_figure(lambda: plot_speedup_vs_sparsity(rows),
                        "Speedup vs sparsity per pass, one line per architecture.")
    if len(cells) > 1:
        counts: dict[str, int] = {}
        for r in rows:
            counts[point_key(r)[0]] = counts.get(point_key(r)[0], 0) + 1
        top = max(counts, key=lambda k: counts[k])
        page.try_figure(lambda: plot_lookahead_heatmap(rows, workload=top),
                        "Training-step speedup over (lookahead, lookaside).")
    if len(hw_points) > 1:
        page.try_figure(lambda: plot_pareto(rows),
                        "Speedup vs area proxy and energy; the Pareto front in red.")


def _simulation_section(page: _Page, rows: list[dict[str, Any]],
                        gpu: GpuResults | None) -> None:
    points: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        points.setdefault(point_key(r), []).append(r)
    labels = architecture_labels(rows)
    page.section("Hardware and workloads")
    page.add(_hardware_table(rows))
    workloads = sorted({workload_label(rs[0]) for rs in points.values()})
    page.add(f"<p>Workload(s): {_e(', '.join(workloads))}.</p>")
    best = _totals_section(page, points, labels)
    layer_rows = _layers_section(page, best, len(points), labels, gpu)
    if gpu is not None:
        _gpu_section(page, gpu, layer_rows)
    _sweep_section(page, rows)


# ---- entry point ------------------------------------------------------------------------------
def _gather(items: list[Any], hardware: Any
            ) -> tuple[RunData | None, list[dict[str, Any]], list[str], str]:
    """The run directory among ``items`` (at most one), the result rows of all of them (its
    latest trace simulated on ``hardware``), what each item was, and why the trace could not
    be simulated ("" when it could)."""
    described: list[str] = []
    run: RunData | None = None
    rows: list[dict[str, Any]] = []
    sim_error = ""
    for item in items:
        if isinstance(item, str | os.PathLike) and is_run_dir(item):
            if run is not None:
                raise PlotError("a report covers one run directory; give one (plus results)")
            run = load_run(item, need_metrics=False)
            described.append(f"run directory {item}")
            if run.traces:
                try:
                    rows += load_rows(simulate_trace(run.path, hardware))
                except AccelsimError as exc:
                    sim_error = str(exc)
        else:
            if isinstance(item, str | os.PathLike) and not Path(item).exists():
                raise PlotError(f"{item} does not exist; give a run directory, a trace or a "
                                "results store")
            rows += load_rows(item, hardware=hardware)
            described.append(str(item) if isinstance(item, str | os.PathLike)
                             else type(item).__name__)
    return run, rows, described, sim_error


def _page_html(page: _Page, heading: str, described: list[str]) -> str:
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_e(heading)}</title><style>{CSS}</style></head><body>"
            f"<h1>{_e(heading)}</h1>"
            f"<p>From {_e('; '.join(described))}. Generated by accelsim {_e(__version__)} on "
            f"{_e(now)}.</p>"
            f"<nav><ul>{''.join(page.sections)}</ul></nav>"
            + "\n".join(page.parts)
            + f"<footer>accelsim {_e(__version__)} · {_e(now)} · Python "
            f"{_e(platform.python_version())} · matplotlib {_e(matplotlib.__version__)}"
            "</footer></body></html>\n")


def build_report(sources: Any, out: str | os.PathLike[str], *, hardware: Any = None,
                 gpu: str | os.PathLike[str] | GpuResults | None = None,
                 title: str | None = None) -> Path:
    """Write one self-contained HTML report to ``out`` (atomically) and return its path.

    ``sources``: a training run directory (its metrics, and its latest trace simulated on
    ``hardware`` with :func:`accelsim.api.simulate_trace`), or results -- a trace file, a
    results store (SQLite/CSV), report JSON, Reports or rows (see
    :func:`plots.data.load_rows`) -- or a list of these.  ``gpu``: a GPU results file
    compared with the simulated per-layer speedups."""
    items = list(sources) if isinstance(sources, list | tuple) else [sources]
    if not items:
        raise PlotError("nothing to report: give a run directory or results")
    gpu_results = load_gpu_results(gpu) if isinstance(gpu, str | os.PathLike) else gpu
    run, rows, described, sim_error = _gather(items, hardware)
    page = _Page()
    if run is not None and not run.metrics and not rows:
        raise PlotError(f"run directory {run.path} has neither epoch metrics nor a trace "
                        "to simulate; nothing to report")
    if run is not None:
        _run_section(page, run)
        if run.metrics:
            _training_section(page, run)
    if sim_error:
        page.section("Simulation")
        page.add(f'<p class="note">the latest trace could not be simulated: {_e(sim_error)}'
                 "</p>")
    if rows:
        _simulation_section(page, rows, gpu_results)

    heading = title or (f"accelsim report: {run.path.name}" if run is not None
                        else "accelsim simulation report")
    return atomic_write(Path(out), _page_html(page, heading, described))


def report_sections(html_text: str) -> list[str]:
    """The ``<h2>`` titles of a report (for checks)."""
    return [html.unescape(t) for t in re.findall(r"<h2[^>]*>(.*?)</h2>", html_text)]

