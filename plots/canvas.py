"""Drawing and writing figures: the shared rc settings, the Agg canvas (no pyplot), atomic
PNG/SVG writing, and helpers every figure uses."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from accelsim.fileio import atomic_write
from plots.data import PASSES, PlotError, filter_rows, load_rows

__all__ = ["DPI", "FORMATS", "RC", "check_dpi", "check_figsize", "check_passes", "figure_svg",
           "finish", "new_figure", "resize", "result_rows", "save_figure", "unity_line"]

#: rc settings every figure is drawn and saved with: text stays text in SVG (searchable,
#: small), stable ids, readable sizes.
RC: dict[str, Any] = {"svg.fonttype": "none", "svg.hashsalt": "accelsim", "font.size": 9,
                      "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8,
                      "axes.grid": True, "grid.alpha": 0.3}
FORMATS = {".png": "png", ".svg": "svg"}
#: dots per inch of PNG figures (and of the raster parts of SVG ones) unless told
DPI = 120
MAX_DPI = 1200
MAX_INCHES = 100.0


def new_figure(width: float, height: float) -> Figure:
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def check_dpi(dpi: Any) -> int:
    """``dpi`` as an integer in 1..:data:`MAX_DPI`, or a :class:`PlotError`."""
    if isinstance(dpi, bool) or not isinstance(dpi, int) or not 1 <= dpi <= MAX_DPI:
        raise PlotError(f"dpi = {dpi!r}: give a whole number of dots per inch from 1 to "
                        f"{MAX_DPI} (e.g. 150)")
    return dpi


def check_figsize(figsize: Any) -> tuple[float, float]:
    """``figsize`` as (width, height) in inches, each in (0, :data:`MAX_INCHES`]; a
    :class:`PlotError` otherwise."""
    try:
        w, h = (float(v) for v in figsize)
    except (TypeError, ValueError):
        raise PlotError(f"figsize = {figsize!r}: give (width, height) in inches, e.g. "
                        "(8, 4.5)") from None
    if not (0 < w <= MAX_INCHES and 0 < h <= MAX_INCHES):
        raise PlotError(f"figsize = {w:g} x {h:g} inches: each side must be above 0 and at "
                        f"most {MAX_INCHES:g}")
    return w, h


def resize(fig: Figure, figsize: Any) -> Figure:
    """Give ``fig`` the size ``figsize`` (inches; None leaves it); the constrained layout
    is redone when it is drawn."""
    if figsize is not None:
        fig.set_size_inches(check_figsize(figsize))
    return fig


def save_figure(fig: Figure, out: str | os.PathLike[str], *, dpi: int = DPI) -> Path:
    """Write ``fig`` to ``out`` (``.png`` or ``.svg``) atomically: a temporary file in the
    same directory, flushed and fsynced, then renamed over ``out``.  Creates missing parent
    directories.  Returns the path."""
    path = Path(out)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise PlotError(f"cannot write a figure to {path.name}: use a .png or .svg file name")
    dpi = check_dpi(dpi)

    def write(fh: Any) -> None:
        with matplotlib.rc_context(RC):
            fig.savefig(fh, format=fmt, dpi=dpi,
                        metadata={"Date": None} if fmt == "svg" else None)

    return atomic_write(path, write)


def figure_svg(fig: Figure, *, dpi: int = DPI) -> str:
    """The figure as SVG text (for embedding); ``dpi``: resolution of its raster parts
    (a heatmap's image)."""

    buf = io.BytesIO()
    with matplotlib.rc_context(RC):
        fig.savefig(buf, format="svg", dpi=check_dpi(dpi), metadata={"Date": None})
    return buf.getvalue().decode("utf-8")


def finish(fig: Figure, out: str | os.PathLike[str] | None) -> Figure:
    if out is not None:
        save_figure(fig, out)
    return fig


def result_rows(results: Any, where: Mapping[str, Any] | None, hardware: Any,
                reference: Any = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(every row of ``results``, the rows ``where`` keeps): a title compares the two.
    Traces and run directories are simulated on ``hardware`` against ``reference``
    (:func:`plots.data.load_rows`)."""
    everything = load_rows(results, hardware=hardware, reference=reference)
    return everything, filter_rows(everything, where)


def check_passes(passes: Sequence[str]) -> tuple[str, ...]:
    out = tuple(passes)
    bad = [p for p in out if p not in PASSES]
    if bad or not out:
        raise PlotError(f"unknown pass(es) {', '.join(bad) or '(none)'}; choose from "
                        f"{', '.join(PASSES)}")
    return out


def unity_line(ax: Any) -> None:
    ax.axhline(1.0, color="0.4", linewidth=0.8, linestyle=":", zorder=0)
