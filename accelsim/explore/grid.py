"""The hardware points of a sweep: ``[grid]`` axes (lists and ranges), ``[[points]]`` and
``[zip]`` tables of dotted hardware keys, expanded over the base machine with
:meth:`accelsim.spec.hardware.Hardware.replace`; invalid combinations skipped or refused."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from accelsim.errors import AccelsimError
from accelsim.explore.labels import point_label
from accelsim.explore.records import flatten_hardware
from accelsim.explore.spec import (
    MAX_AXIS,
    MAX_HARDWARE_POINTS,
    HardwarePoint,
    SkippedPoint,
    SweepError,
    fail,
    is_number,
    scalar,
)
from accelsim.spec.array_sections import LATE_KEYS
from accelsim.spec.checks import show, suggest
from accelsim.spec.hardware import Hardware

__all__ = ["expand_hardware", "flatten_table", "hardware_keys", "hardware_source", "values"]



def _expand_range(where: str, table: Mapping[str, Any]) -> tuple[Any, ...]:
    """``{start, stop, step}`` (arithmetic, stop inclusive) or ``{start, stop, factor}``
    (geometric, stop inclusive)."""
    keys = set(table)
    if keys not in ({"start", "stop", "step"}, {"start", "stop", "factor"}, {"start", "stop"}):
        raise fail(where, f"a range is {{start, stop, step}} or {{start, stop, factor}} (stop "
                           f"inclusive), not {{{', '.join(sorted(keys))}}}; or give a list")
    for k, v in table.items():
        if not is_number(v) or not math.isfinite(v):
            raise fail(where, f"range {k} = {show(v)} must be a finite number")
    start, stop = table["start"], table["stop"]
    if stop < start:
        raise fail(where, f"range stop = {stop!r} is below start = {start!r}; use stop >= start")
    integral = all(isinstance(v, int) for v in table.values())
    values: list[Any] = []
    if "factor" in table:
        factor = table["factor"]
        if factor <= 1 or start <= 0:
            raise fail(where, f"geometric range needs start > 0 and factor > 1, not start = "
                               f"{start!r}, factor = {factor!r}")
        v = start
        while v <= stop * (1 + 1e-12) and len(values) <= MAX_AXIS:
            values.append(v if integral else float(f"{v:.12g}"))
            v = v * factor
    else:
        step = table.get("step", 1)
        if step <= 0:
            raise fail(where, f"range step = {step!r} must be > 0")
        n = math.floor((stop - start) / step * (1 + 1e-12) + 1e-9) + 1
        if n > MAX_AXIS:
            raise fail(where, f"range gives {n} values, more than {MAX_AXIS}; use a larger step")
        values = [start + i * step if integral else float(f"{start + i * step:.12g}")
                  for i in range(n)]
    if len(values) > MAX_AXIS:
        raise fail(where, f"range gives more than {MAX_AXIS} values; use a larger factor")
    return tuple(values)


def values(where: str, value: Any) -> tuple[Any, ...]:
    """A grid axis: list, range table or single value."""
    if isinstance(value, dict):
        return _expand_range(where, value)
    if isinstance(value, list):
        if not value:
            raise fail(where, "empty list; give at least one value")
        out = tuple(scalar(where, v) for v in value)
        return tuple(dict.fromkeys(out))  # dedupe, keep order (1 and 1.0 stay one)
    return (scalar(where, value),)


def hardware_keys(base: Hardware) -> dict[str, None]:
    """The dotted keys a point may set on ``base``: those of its dict and the
    :data:`~accelsim.spec.array_sections.LATE_KEYS` of its sections (the dict omits them at
    their default)."""
    keys: dict[str, None] = {"name": None}
    for section, table in base.to_dict().items():
        if isinstance(table, dict):
            for key in (*table, *LATE_KEYS.get(section, ())):
                keys[f"{section}.{key}"] = None
    return keys


def _check_key(where: str, key: str, known: Mapping[str, None]) -> None:
    if key not in known:
        raise fail(where, f"{key} is not a hardware parameter{suggest(key, known)}; use a "
                           "dotted key such as \"frontend.lookahead\" or \"array.tiles\" (the "
                           "[section] key of the hardware TOML)")


def flatten_table(where: str, table: Mapping[str, Any], known: Mapping[str, None],
                   *, ranges: bool) -> dict[str, Any]:
    """``{"frontend.lookahead": v}`` and ``{"frontend": {"lookahead": v}}`` -> dotted keys."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        if "." not in key and key != "name" and isinstance(value, dict) and not (
                ranges and set(value) <= {"start", "stop", "step", "factor"}):
            for sub, v in value.items():
                dotted = f"{key}.{sub}"
                _check_key(where, dotted, known)
                out[dotted] = v
            continue
        _check_key(where, key, known)
        out[key] = value
    return out


def hardware_source(value: Any, base_dir: Path, where: str = "[base] hardware") -> Any:
    """A machine named in a spec: the TOML path (relative to ``base_dir``) when that file
    exists, else the text as given (a built-in name, checked by ``load_hardware``)."""
    if not isinstance(value, str) or not value:
        raise fail(where, f"{show(value)} must be a built-in name (bit-tactical, "
                          "dadiannao, ...) or a hardware TOML path")
    p = Path(value).expanduser()
    candidate = p if p.is_absolute() else base_dir / p
    return candidate if candidate.exists() else value


def _point_label(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} = {show(v)}" for k, v in params.items()) or "(base)"


def expand_hardware(base: Hardware, points: list[dict[str, Any]],
                     grid: list[tuple[str, tuple[Any, ...]]], invalid: str
                     ) -> tuple[tuple[HardwarePoint, ...], tuple[SkippedPoint, ...]]:
    total = max(len(points), 1) * math.prod(len(v) for _, v in grid)
    if total > MAX_HARDWARE_POINTS:
        raise SweepError(f"the sweep has {total} hardware points, more than "
                         f"{MAX_HARDWARE_POINTS}; narrow [grid]")
    keys = [k for k, _ in grid]
    good: dict[str, HardwarePoint] = {}
    skipped: list[SkippedPoint] = []
    used_grid: set[tuple[str, Any]] = set()
    used_point: set[int] = set()
    first_reason: dict[Any, str] = {}
    for index, point in enumerate(points or [{}]):
        for combo in itertools.product(*(v for _, v in grid)):
            params = {**point, **dict(zip(keys, combo, strict=True))}
            tags = [("grid", k, repr(v)) for k, v in zip(keys, combo, strict=True)]
            try:
                hw = base.replace(**params)
            except AccelsimError as exc:
                reason = str(exc)
                if invalid == "error":
                    raise SweepError(f"hardware point {_point_label(params)} is invalid: "
                                     f"{reason}; fix [grid]/[[points]] or set invalid = "
                                     "\"skip\"") from None
                skipped.append(SkippedPoint(params, reason))
                for tag in [*tags, ("point", index)]:
                    first_reason.setdefault(tag, reason)
                continue
            used_grid.update((k, repr(v)) for k, v in zip(keys, combo, strict=True))
            used_point.add(index)
            # params fill in the keys a dict omits at their default (LATE_KEYS)
            flat = {**params, **flatten_hardware(hw.to_dict(), "name")}
            label = point_label(params, flat, base.name)
            good.setdefault(hw.digest(), HardwarePoint(params, hw, hw.digest(), label))
    for k, values in grid:
        for v in values:
            if (k, repr(v)) not in used_grid:
                raise SweepError(f"[grid] {k} = {show(v)} gives no valid hardware in any "
                                 f"combination: {first_reason[('grid', k, repr(v))]}")
    for index, point in enumerate(points):
        if index not in used_point:
            raise SweepError(f"point {_point_label(point)} gives no valid hardware in any "
                             f"combination: {first_reason[('point', index)]}")
    return tuple(good.values()), tuple(skipped)
