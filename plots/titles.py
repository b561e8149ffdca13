"""What a figure's title says besides its subject: the parameters held fixed, the ones a
cell or line is the fastest of, and the ``--where`` filters, so that no figure of one
slice of a sweep reads as if it showed the whole sweep or another machine."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from accelsim.explore.labels import short_value
from plots.data import HW_PREFIXES
from plots.points import point_key

__all__ = ["context_line", "design_keys", "wrap_title"]

def _params(row: Mapping[str, Any]) -> dict[str, Any]:
    value = row.get("params")
    if isinstance(value, str) and value:
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return {}
    return dict(value) if isinstance(value, Mapping) else {}


def _first_per_point(rows: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    first: dict[str, Mapping[str, Any]] = {}
    for r in rows:
        first.setdefault(point_key(r)[1], r)
    return list(first.values())


def design_keys(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """The hardware keys that tell the design points of ``rows`` apart: those a sweep set
    (the rows' ``params``) and those whose values differ between the points, sorted."""
    points = _first_per_point(rows)
    keys: set[str] = set()
    for r in points:
        keys.update(k for k in _params(r) if k != "name")
    candidates = {k for r in points for k in r if k.startswith(HW_PREFIXES)}
    keys.update(k for k in candidates if len({str(r.get(k)) for r in points}) > 1)
    return sorted(keys)


def _values(points: Sequence[Mapping[str, Any]], key: str) -> list[Any]:
    """The distinct values of ``key`` among ``points``, numbers by value, text sorted."""
    seen: dict[str, Any] = {}
    for r in points:
        seen.setdefault(str(r.get(key)), r.get(key))
    return sorted(seen.values(), key=lambda v: (not isinstance(v, int | float), v
                                                if isinstance(v, int | float) else str(v)))


def context_line(everything: Iterable[Mapping[str, Any]], shown: Iterable[Mapping[str, Any]],
                 where: Mapping[str, Any] | None, axes: Sequence[str] = (),
                 fastest_of: bool = False) -> str:
    """One line for a title: ``fixed K = V, ...`` (design keys of ``everything`` with one
    value among the ``shown`` rows, the figure's ``axes`` left out), with ``fastest_of``
    ``fastest of K ∈ {A, B}`` (the design keys that still vary: each cell shows its
    fastest point), and ``where K=V`` (the filters).  "" when there is nothing to say."""
    shown_points = _first_per_point(shown)
    parts = []
    fixed, varying = [], []
    for key in design_keys(everything):
        if key in axes:
            continue
        values = _values(shown_points, key)
        if len(values) == 1:
            fixed.append(f"{key} = {short_value(values[0])}")
        else:
            varying.append(f"{key} ∈ {{{', '.join(short_value(v) for v in values)}}}")
    if fixed:
        parts.append("fixed " + ", ".join(fixed))
    if varying and fastest_of:
        parts.append("fastest of " + ", ".join(varying))
    if where:
        parts.append("where " + ", ".join(f"{k}={v}" for k, v in where.items()))
    return "; ".join(parts)


def wrap_title(*lines: str) -> str:
    """Title lines joined, empty ones dropped (the figure wraps each line to its width:
    ``suptitle(..., wrap=True)``)."""
    return "\n".join(line for line in lines if line)
