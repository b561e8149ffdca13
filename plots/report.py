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
from pathlib import Path
from typing import Any

import matplotlib

from accelsim import __version__
from accelsim.api import simulate_trace
from accelsim.errors import AccelsimError
from accelsim.fileio import atomic_write
from accelsim.rundir import CONFIG_NAME, is_run_dir
from accelsim.yardstick import DEFAULT_REFERENCE
from plots.canvas import DPI, check_dpi, check_figsize
from plots.data import GpuResults, PlotError, load_gpu_results, load_rows
from plots.page import CSS, Page, esc, html_table, inline_svg, percent
from plots.report_results import simulation_section
from plots.run_figures import plot_layer_density, plot_training_curves
from plots.runs import RunData, load_run

__all__ = ["build_report", "inline_svg"]

#: file name endings a report may be written to (it is HTML)
REPORT_SUFFIXES = (".html", ".htm")


# ---- sections ---------------------------------------------------------------------------------
def _run_section(page: Page, run: RunData) -> None:
    page.section("What was run")
    if run.config:
        items = [(k, v) for k, v in run.config.items() if not isinstance(v, dict | list)
                 or v]
        page.add(html_table(["setting", "value"], [(k, v) for k, v in items], left=2))
    else:
        page.add(f'<p class="note">{esc(run.path)} has no {CONFIG_NAME}.</p>')
    if run.traces:
        page.add(f"<p>{len(run.traces)} trace(s) recorded; the latest, "
                 f"<code>{esc(run.traces[-1].name)}</code>, is simulated below.</p>")


def _training_section(page: Page, run: RunData) -> None:
    page.section("Training")
    rows = []
    for r in run.metrics:
        act = (r.get("activation_density") or {})
        act = act.get("train") or act.get("test") or {}
        dn = r.get("dead_neurons") or {}
        rows.append([int(r.get("epoch", 0)) + 1, r.get("phase") or "",
                     f"{(r.get('train') or {}).get('loss', float('nan')):.4f}",
                     percent((r.get("train") or {}).get("accuracy")),
                     f"{(r.get('test') or {}).get('loss', float('nan')):.4f}",
                     percent((r.get("test") or {}).get("accuracy")),
                     percent((r.get("weight_density") or {}).get("overall")),
                     percent(act.get("overall")), percent(dn.get("dnr"))])
    page.add(html_table(["epoch", "phase", "train loss", "train acc.", "test loss", "test acc.",
                     "weight density", "activation density", "DNR"], rows, left=2))
    page.figure(plot_training_curves(run), "Training curves: loss, accuracy, density and "
                                           "dead-neuron rate per epoch.")
    page.try_figure(lambda: plot_layer_density(run),
                    "Per-layer density and dead-neuron rate of the last epoch.")


# ---- entry point ------------------------------------------------------------------------------
def _gather(items: list[Any], hardware: Any, reference: Any
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
                    rows += load_rows(simulate_trace(
                        run.path, hardware,
                        reference=DEFAULT_REFERENCE if reference is None else reference))
                except AccelsimError as exc:
                    sim_error = str(exc)
        else:
            if isinstance(item, str | os.PathLike) and not Path(item).exists():
                raise PlotError(f"{item} does not exist; give a run directory, a trace or a "
                                "results store")
            rows += load_rows(item, hardware=hardware, reference=reference)
            described.append(str(item) if isinstance(item, str | os.PathLike)
                             else type(item).__name__)
    return run, rows, described, sim_error


def _page_html(page: Page, heading: str, described: list[str]) -> str:
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{esc(heading)}</title><style>{CSS}</style></head><body>"
            f"<h1>{esc(heading)}</h1>"
            f"<p>From {esc('; '.join(described))}. Generated by accelsim {esc(__version__)} on "
            f"{esc(now)}.</p>"
            f"<nav><ul>{''.join(page.sections)}</ul></nav>"
            + "\n".join(page.parts)
            + f"<footer>accelsim {esc(__version__)} · {esc(now)} · Python "
            f"{esc(platform.python_version())} · matplotlib {esc(matplotlib.__version__)}"
            "</footer></body></html>\n")


def build_report(sources: Any, out: str | os.PathLike[str], *, hardware: Any = None,
                 gpu: str | os.PathLike[str] | GpuResults | None = None,
                 title: str | None = None, dpi: int = DPI, figsize: Any = None,
                 reference: Any = None) -> Path:
    """Write one self-contained HTML report to ``out`` (atomically) and return its path.

    ``sources``: a training run directory (its metrics, and its latest trace simulated on
    ``hardware`` with :func:`accelsim.api.simulate_trace`), or results -- a trace file, a
    results store (SQLite/CSV), report JSON, Reports or rows (see
    :func:`plots.data.load_rows`) -- or a list of these.  ``gpu``: a GPU results file
    compared with the simulated per-layer speedups.  ``out`` must end in .html or .htm.
    ``figsize`` (inches) and ``dpi`` (of raster parts) apply to every figure.  Traces are
    simulated against ``reference`` (default ``dadiannao``; results measured against
    another machine are refused, see :func:`plots.data.load_rows`)."""
    if Path(out).suffix.lower() not in REPORT_SUFFIXES:
        raise PlotError(f"report --out {Path(out).name}: the report is an HTML page; give a "
                        ".html or .htm file name")
    items = list(sources) if isinstance(sources, list | tuple) else [sources]
    if not items:
        raise PlotError("nothing to report: give a run directory or results")
    check_dpi(dpi)
    if figsize is not None:
        check_figsize(figsize)
    gpu_results = load_gpu_results(gpu) if isinstance(gpu, str | os.PathLike) else gpu
    run, rows, described, sim_error = _gather(items, hardware, reference)
    page = Page(dpi, figsize)
    if run is not None and not run.metrics and not rows:
        raise PlotError(f"run directory {run.path} has neither epoch metrics nor a trace "
                        "to simulate; nothing to report")
    if run is not None:
        _run_section(page, run)
        if run.metrics:
            _training_section(page, run)
    if sim_error:
        page.section("Simulation")
        page.add(f'<p class="note">the latest trace could not be simulated: {esc(sim_error)}'
                 "</p>")
    if rows:
        simulation_section(page, rows, gpu_results)

    heading = title or (f"accelsim report: {run.path.name}" if run is not None
                        else "accelsim simulation report")
    return atomic_write(Path(out), _page_html(page, heading, described))


def report_sections(html_text: str) -> list[str]:
    """The ``<h2>`` titles of a report (for checks)."""
    return [html.unescape(t) for t in re.findall(r"<h2[^>]*>(.*?)</h2>", html_text)]

