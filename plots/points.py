"""Design points of the result rows: identity, labels, sparsity, summed totals, area proxy."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accelsim.explore.records import ENERGY_COLUMNS
from accelsim.yardstick import OPS_PER_MAC
from plots.data import COMPONENTS, HW_PREFIXES, TOTAL, PlotError

__all__ = ["Totals", "architecture_label", "architecture_labels", "area_proxy", "point_key",
           "point_totals", "row_speedup", "row_time_s", "sparsity_of", "speedup_label", "speedup_of",
           "uses_reference", "workload_label"]


def point_key(row: Mapping[str, Any]) -> tuple[str, str]:
    """``(workload, hardware)`` identity of the design point a row belongs to."""
    hw = row.get("hardware_digest") or "|".join(
        f"{k}={row[k]}" for k in sorted(row) if k.startswith(HW_PREFIXES))
    return str(row.get("trace_digest") or row.get("trace") or ""), str(hw)


def workload_label(row: Mapping[str, Any]) -> str:
    """Short name of a row's workload: ``model/dataset method``, else the trace's file name
    with its run directory (``swat-run/step-00000040.trace``)."""
    if row.get("model"):
        method = str(row.get("method") or "")
        s = sparsity_of(row)
        if method and s is not None:
            method += f"@{s:g}"
        step = f"step {row['step']}" if row.get("step") not in (None, "") else ""
        return " ".join(x for x in (f"{row['model']}/{row.get('dataset', '?')}", method, step)
                        if x)
    trace = str(row.get("trace") or row.get("trace_digest") or "workload")
    if trace.startswith("synthetic:"):
        return trace[len("synthetic:"):]
    parts = [p for p in Path(trace).parts[:-1] if p not in ("traces", "/")]
    return "/".join([*parts[-1:], Path(trace).name]) or trace


def architecture_label(row: Mapping[str, Any]) -> str:
    """Name of a row's architecture: its ``label``, else its hardware name, else built from
    the parameters (``T<2,5> bit-parallel``, ``dense``, plus a non-default array kind)."""
    for key in ("label", "hardware.name", "hardware_name", "name"):
        if row.get(key):
            return str(row[key])
    if row.get("frontend.kind") == "dense":
        front = "dense"
    elif "frontend.lookahead" in row:
        front = (f"{row.get('frontend.shape', 'T')}<{row.get('frontend.lookahead')},"
                 f"{row.get('frontend.lookaside')}>")
    else:
        front = ""
    parts = [str(row[k]) for k in ("array.kind",) if row.get(k) not in (None, "", "bit-tactical")]
    parts += [front] if front else []
    parts += [str(row["backend.kind"])] if row.get("backend.kind") else []
    return " ".join(parts) or str(row.get("hardware_digest", "?"))[:12]


def architecture_labels(rows: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Hardware point (``point_key(row)[1]``) -> architecture label, unique per point
    unless the rows carry an explicit ``label``: points that share a name (a sweep keeps
    its base hardware's name) are told apart by the parameters that differ between them."""
    first: dict[str, Mapping[str, Any]] = {}
    for r in rows:
        first.setdefault(point_key(r)[1], r)
    labels = {hw: architecture_label(r) for hw, r in first.items()}
    by_label: dict[str, list[str]] = {}
    for hw, label in labels.items():
        by_label.setdefault(label, []).append(hw)
    for hws in by_label.values():
        if len(hws) < 2 or first[hws[0]].get("label"):
            continue
        keys = sorted({k for hw in hws for k in first[hw] if k.startswith(HW_PREFIXES)})
        varying = [k for k in keys if len({str(first[hw].get(k)) for hw in hws}) > 1]
        for hw in hws:
            r = first[hw]
            built = architecture_label({k: v for k, v in r.items() if k not in (
                "label", "hardware.name", "hardware_name", "name")})
            extra = [f"{k.split('.', 1)[1]}={r.get(k)}" for k in varying
                     if k not in ("frontend.lookahead", "frontend.lookaside", "frontend.shape",
                                  "frontend.kind", "backend.kind", "array.kind")]
            labels[hw] = built + (f" ({', '.join(extra)})" if extra else "")
    return labels


def sparsity_of(row: Mapping[str, Any]) -> float | None:
    """Weight sparsity of a row's workload (a fraction), or None when it is not recorded:
    the ``sparsity``/``weight_sparsity``/``workload.sparsity`` column, else the ``@S``
    suffix of a synthetic source such as ``synthetic:resnet50/imagenet/swat-u@0.9``."""
    for key in ("sparsity", "weight_sparsity", "workload.sparsity", "method_params.sparsity"):
        v = row.get(key)
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
            return float(v)
    m = re.search(r"@([0-9]*\.?[0-9]+)(?:/|$)", str(row.get("trace", "")))
    return float(m.group(1)) if m else None


def row_time_s(row: Mapping[str, Any]) -> float | None:
    """Seconds of a row: its ``time_s``, else (compute + stall cycles) / the row's clock
    (``array.clock_ghz``); None when neither is known."""
    t = row.get("time_s")
    if isinstance(t, int | float) and not isinstance(t, bool):
        return float(t)
    clock = row.get("array.clock_ghz")
    if isinstance(clock, int | float) and not isinstance(clock, bool) and clock > 0:
        cycles = float(row.get("compute_cycles") or 0) + float(row.get("stall_cycles") or 0)
        return cycles / (float(clock) * 1e9)
    return None


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


@dataclass(frozen=True)
class Totals:
    """Summed cycles, time and energy of design points over one (combination of) pass(es).

    ``time_s``: seconds (None when a row's clock is unknown); ``reference_time_s`` /
    ``reference_energy_pj``: the same work on the reference machine ``reference`` (None when
    a row has no reference figures, or the rows name several references);
    ``energy_parts_pj``: the energy per part (compute, frontend, buffers, dram; None when a
    row lacks them); ``area_mm2``: the machine's area when the rows are of one machine."""

    base_cycles: float
    compute_cycles: float
    stall_cycles: float
    energy_pj: float
    base_energy_pj: float
    time_s: float | None = None
    reference_time_s: float | None = None
    reference_energy_pj: float | None = None
    reference: str | None = None
    effectual_macs: float | None = None
    energy_parts_pj: dict[str, float] | None = None
    area_mm2: float | None = None

    @property
    def speedup_vs_own_dense(self) -> float:
        """base / (compute + stalls), 1.0 when nothing ran."""
        total = self.compute_cycles + self.stall_cycles
        return self.base_cycles / total if total else 1.0

    @property
    def speedup(self) -> float:
        """Reference time / time when the reference is known, else the speedup over the
        design's own dense twin (:attr:`speedup_vs_own_dense`)."""
        if self.reference_time_s is not None and self.time_s:
            return self.reference_time_s / self.time_s
        return self.speedup_vs_own_dense

    @property
    def energy_efficiency(self) -> float | None:
        """Reference energy / energy (None without the reference)."""
        if self.reference_energy_pj is not None and self.energy_pj:
            return self.reference_energy_pj / self.energy_pj
        return None

    @property
    def effectual_gops(self) -> float | None:
        """Effectual operations (2 per MAC) per second, in GOPS."""
        if self.effectual_macs is None or not self.time_s:
            return None
        return OPS_PER_MAC * self.effectual_macs / self.time_s / 1e9

    @property
    def gops_per_w(self) -> float | None:
        """Effectual GOPS per watt: effectual operations per joule / 1e9."""
        if self.effectual_macs is None or not self.energy_pj:
            return None
        return OPS_PER_MAC * self.effectual_macs / (self.energy_pj * 1e-12) / 1e9

    @property
    def gops_per_mm2(self) -> float | None:
        """Effectual GOPS per mm2 of the machine."""
        gops = self.effectual_gops
        return None if gops is None or not self.area_mm2 else gops / self.area_mm2

    @property
    def rank(self) -> float:
        """What "fastest" compares (smaller is faster): the time when known, else the
        cycles (equal clocks assumed)."""
        return self.time_s if self.time_s is not None else self.compute_cycles + self.stall_cycles


def _optional_sum(values: list[float | None]) -> float | None:
    return None if not values or any(v is None for v in values) else float(sum(values))  # type: ignore[arg-type]


def _picked_rows(rows: Iterable[Mapping[str, Any]], pass_name: str
                 ) -> tuple[list[Mapping[str, Any]], int]:
    """Per point, each component pass's ``*total*`` row, else its layer rows; and the
    number of points."""
    if pass_name not in COMPONENTS:
        raise PlotError(f"unknown pass {pass_name!r}; choose one of {', '.join(COMPONENTS)}")
    points: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for r in rows:
        points.setdefault(point_key(r), []).append(r)
    picked: list[Mapping[str, Any]] = []
    for point_rows in points.values():
        for comp in COMPONENTS[pass_name]:
            mine = [r for r in point_rows if r.get("pass") == comp]
            picked += [r for r in mine if r.get("layer") == TOTAL] or mine
    return picked, len(points)


def point_totals(rows: Iterable[Mapping[str, Any]], pass_name: str = "training_step") -> Totals:
    """Totals of ``rows`` over ``pass_name`` (a pass, ``backward`` or ``training_step``),
    summed over the design points they hold: per point, each component pass from its
    ``*total*`` row when present, else summed over its layer rows."""
    picked, n_points = _picked_rows(rows, pass_name)
    keys = ("base_cycles", "compute_cycles", "stall_cycles", "energy_pj", "base_energy_pj")
    acc = {k: float(sum(float(r.get(k) or 0) for r in picked)) for k in keys}
    refs = {r.get("reference") or None for r in picked}
    one_ref = len(refs) == 1 and None not in refs
    parts = {k[len("energy_"):-len("_pj")]: _optional_sum([_number(r.get(k)) for r in picked])
             for k in ENERGY_COLUMNS}
    areas = {_number(r.get("area_mm2")) for r in picked}
    return Totals(
        **acc, time_s=_optional_sum([row_time_s(r) for r in picked]),
        reference_time_s=_optional_sum([_number(r.get("reference_time_s")) for r in picked])
        if one_ref else None,
        reference_energy_pj=_optional_sum([_number(r.get("reference_energy_pj"))
                                           for r in picked]) if one_ref else None,
        reference=next(iter(refs)) if one_ref else None,
        effectual_macs=_optional_sum([_number(r.get("effectual_macs")) for r in picked]),
        energy_parts_pj=None if any(v is None for v in parts.values()) else parts,  # type: ignore[arg-type]
        area_mm2=areas.pop() if n_points == 1 and len(areas) == 1 else None)


def uses_reference(rows: Iterable[Mapping[str, Any]]) -> bool:
    """True when every row has its figures against one and the same reference machine:
    then speedups are reference time / time; else each design's own dense twin is the only
    base the rows share."""
    refs = set()
    for r in rows:
        if _number(r.get("reference_time_s")) is None:
            return False
        refs.add(r.get("reference") or None)
    return len(refs) == 1 and None not in refs


def speedup_label(rows: Iterable[Mapping[str, Any]]) -> str:
    """The speedup axis of ``rows`` (see :func:`uses_reference`)."""
    rows = list(rows)
    if uses_reference(rows):
        return f"speedup over {rows[0]['reference']} (×)"
    return "speedup over own dense twin (×)"


def speedup_of(t: Totals, against_reference: bool) -> float:
    """The speedup a figure shows: against the reference, or the design's own dense twin."""
    return t.speedup if against_reference else t.speedup_vs_own_dense


def row_speedup(row: Mapping[str, Any], against_reference: bool) -> float:
    """A row's speedup against the reference, or its own dense twin (NaN when missing)."""
    key = "speedup" if against_reference else "speedup_vs_own_dense"
    value = _number(row.get(key))
    if value is None and not against_reference:
        value = _number(row.get("speedup")) if "speedup_vs_own_dense" not in row else None
    return float("nan") if value is None else value


def area_proxy(row: Mapping[str, Any]) -> float:
    """Relative area of a design point, in MAC-lane units, when no ``area_mm2`` is given:

    ``PEs x lanes x (1 + 0.05 x (lookahead + lookaside))`` for a TCL front end (each
    lookahead/lookaside connection adds a multiplexer input per lane, costed at 5% of a
    lane's multiplier), ``PEs x lanes`` for a dense one; PEs = tiles x rows x columns.  The
    back end and buffers are not costed.  A relative figure: only ratios between points
    matter.  A row's ``area_mm2`` column, when present, is used instead (see
    :func:`plots.figures.plot_pareto`)."""
    pes = 1
    for key, default in (("array.tiles", 16), ("array.rows", 16), ("array.columns", 1)):
        pes *= int(row.get(key, default) or default)
    lanes = int(row.get("array.lanes", 16) or 16)
    mux = 0.0
    if row.get("frontend.kind", "tcl") != "dense":
        mux = 0.05 * (int(row.get("frontend.lookahead", 0) or 0)
                      + int(row.get("frontend.lookaside", 0) or 0))
    return pes * lanes * (1.0 + mux)
