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

__all__ = ["FORMATS", "RC", "SPEEDUP_LABEL", "check_passes", "figure_svg", "finish",
           "new_figure", "result_rows", "save_figure", "unity_line"]

#: rc settings every figure is drawn and saved with: text stays text in SVG (searchable,
#: small), stable ids, readable sizes.
RC: dict[str, Any] = {"svg.fonttype": "none", "svg.hashsalt": "accelsim", "font.size": 9,
                      "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8,
                      "axes.grid": True, "grid.alpha": 0.3}
SPEEDUP_LABEL = "speedup over dense (×)"
FORMATS = {".png": "png", ".svg": "svg"}


def new_figure(width: float, height: float) -> Figure:
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, out: str | os.PathLike[str], *, dpi: int = 120) -> Path:
    """Write ``fig`` to ``out`` (``.png`` or ``.svg``) atomically: a temporary file in the
    same directory, flushed and fsynced, then renamed over ``out``.  Creates missing parent
    directories.  Returns the path."""
    path = Path(out)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise PlotError(f"cannot write a figure to {path.name}: use a .png or .svg file name")

    def write(fh: Any) -> None:
        with matplotlib.rc_context(RC):
            fig.savefig(fh, format=fmt, dpi=dpi,
                        metadata={"Date": None} if fmt == "svg" else None)

    return atomic_write(path, write)


def figure_svg(fig: Figure) -> str:
    """The figure as SVG text (for embedding)."""

    buf = io.BytesIO()
    with matplotlib.rc_context(RC):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue().decode("utf-8")


def finish(fig: Figure, out: str | os.PathLike[str] | None) -> Figure:
    if out is not None:
        save_figure(fig, out)
    return fig


def result_rows(results: Any, where: Mapping[str, Any] | None, hardware: Any) -> list[dict[str, Any]]:
    return filter_rows(load_rows(results, hardware=hardware), where)


def check_passes(passes: Sequence[str]) -> tuple[str, ...]:
    out = tuple(passes)
    bad = [p for p in out if p not in PASSES]
    if bad or not out:
        raise PlotError(f"unknown pass(es) {', '.join(bad) or '(none)'}; choose from "
                        f"{', '.join(PASSES)}")
    return out


def unity_line(ax: Any) -> None:
    ax.axhline(1.0, color="0.4", linewidth=0.8, linestyle=":", zorder=0)
