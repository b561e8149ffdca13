"""The HTML side of the report (:mod:`plots.report`): the style sheet, escaping, tables,
number formats and :class:`Page`, which collects sections and inline SVG figures."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

from plots.canvas import DPI, figure_svg, resize
from plots.data import PlotError

__all__ = ["CSS", "Page", "count", "esc", "html_table", "inline_svg", "micros", "millis", "percent",
           "times"]

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


def esc(value: Any) -> str:
    """Text escaped for HTML (quotes too)."""
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


def html_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], left: int = 1) -> str:
    """A table; the first ``left`` columns left-aligned (text), the rest right (numbers)."""
    head = "".join(f'<th{" class=l" if i < left else ""}>{esc(h)}</th>'
                   for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f'<td{" class=l" if i < left else ""}>{esc(c)}</td>'
                                     for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def times(v: float) -> str:
    """A ratio as ``1.23×``."""
    return f"{v:.2f}×"


def count(v: Any) -> str:
    """A whole number with thousands separators ("-" when not a number)."""
    try:
        return f"{int(round(float(v))):,}"
    except (TypeError, ValueError):
        return "-"


def percent(v: Any) -> str:
    """A fraction as a percentage ("-" when not a number)."""
    return f"{100 * v:.1f}%" if isinstance(v, int | float) and not isinstance(v, bool) else "-"


class Page:
    """The sections, table of contents and figures of one report page; figures are drawn
    at ``figsize`` (inches, None: their own) with raster parts at ``dpi``."""

    def __init__(self, dpi: int = DPI, figsize: Any = None) -> None:
        self.parts: list[str] = []
        self.sections: list[str] = []
        self.figures = 0
        self.dpi = dpi
        self.figsize = figsize

    def section(self, title: str) -> None:
        anchor = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
        self.sections.append(f'<li><a href="#{anchor}">{esc(title)}</a></li>')
        self.parts.append(f'<h2 id="{anchor}">{esc(title)}</h2>')

    def add(self, text: str) -> None:
        self.parts.append(text)

    def figure(self, fig: Any, caption: str) -> None:
        self.figures += 1
        svg = inline_svg(figure_svg(resize(fig, self.figsize), dpi=self.dpi),
                         f"f{self.figures}-")
        self.parts.append(f"<figure>{svg}<figcaption>Figure {self.figures}. {esc(caption)}"
                          "</figcaption></figure>")

    def try_figure(self, build: Any, caption: str) -> None:
        try:
            self.figure(build(), caption)
        except PlotError as exc:
            self.add(f'<p class="note">{esc(caption)}: not drawn ({esc(exc)}).</p>')


def millis(seconds: float | None) -> str:
    """Seconds shown in milliseconds ("-" when unknown)."""
    return "-" if seconds is None else f"{1e3 * seconds:.4g}"


def micros(seconds: float | None) -> str:
    """Seconds shown in microseconds ("-" when unknown)."""
    return "-" if seconds is None else f"{1e6 * seconds:.4g}"
