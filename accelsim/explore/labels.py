"""Names of sweep points: each point is named by the hardware parameters its sweep set
(``T<4,6> tcle x1``), never by the base machine's name, which every point of a sweep keeps.
Shared by the store (the ``label`` column) and the figures."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["FRONTEND_KEYS", "point_label", "short_value"]

#: hardware keys shown together as the front end: ``T<h,d>`` (or ``dense``)
FRONTEND_KEYS = ("frontend.kind", "frontend.shape", "frontend.lookahead", "frontend.lookaside")
#: keys with a short form, in label order (the rest follow as ``key=value``)
_SHORT = {"array.kind": "{}", "backend.kind": "{}", "array.columns": "x{}",
          "array.tiles": "{} tiles", "array.rows": "{} rows", "array.lanes": "{} lanes",
          "array.pe_bits": "{}-bit", "array.clock_ghz": "{} GHz"}


def short_value(value: Any) -> str:
    """A parameter value as a label shows it: ``12.8``, ``tcle``, ``true``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _frontend(hw: Mapping[str, Any]) -> str:
    if hw.get("frontend.kind") == "dense":
        return "dense"
    return (f"{hw.get('frontend.shape', 'T')}<{short_value(hw.get('frontend.lookahead'))},"
            f"{short_value(hw.get('frontend.lookaside'))}>")


def point_label(keys: Iterable[str], hw: Mapping[str, Any], base_name: str = "") -> str:
    """The name of a sweep point: the values of ``keys`` (the dotted hardware keys its sweep
    set) read from ``hw`` (the point's hardware, flattened ``{"frontend.lookahead": 4, ...}``),
    in a fixed order: ``name`` when set, the array kind, the front end as ``T<h,d>`` (or
    ``dense``) when any front-end key was set, the back end, ``xC`` columns, tiles, rows,
    lanes, then ``key=value`` for the rest (sorted).  No keys: ``base_name`` (the machine
    the sweep started from)."""
    wanted = set(keys)
    if not wanted:
        return base_name or str(hw.get("name", "")) or "base"
    parts: list[str] = []
    if "name" in wanted and hw.get("name"):
        parts.append(str(hw["name"]))
    if "array.kind" in wanted:
        parts.append(short_value(hw.get("array.kind")))
    if wanted & set(FRONTEND_KEYS) and "frontend.kind" in hw:
        parts.append(_frontend(hw))
    for key, fmt in _SHORT.items():
        if key != "array.kind" and key in wanted:
            parts.append(fmt.format(short_value(hw.get(key))))
    done = {"name", *FRONTEND_KEYS, *_SHORT}
    parts += [f"{k}={short_value(hw.get(k))}" for k in sorted(wanted - done)]
    return " ".join(parts)
