"""Design points of the result rows: identity, labels, sparsity, summed totals, area proxy."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plots.data import COMPONENTS, HW_PREFIXES, TOTAL, PlotError

__all__ = ["Totals", "architecture_label", "architecture_labels", "area_proxy", "point_key",
           "point_totals", "sparsity_of", "workload_label"]


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


@dataclass(frozen=True)
class Totals:
    """Summed cycles and energy of one design point over one (combination of) pass(es)."""

    base_cycles: float
    compute_cycles: float
    stall_cycles: float
    energy_pj: float
    base_energy_pj: float

    @property
    def speedup(self) -> float:
        """base / (compute + stalls), 1.0 when nothing ran."""
        total = self.compute_cycles + self.stall_cycles
        return self.base_cycles / total if total else 1.0


def point_totals(rows: Iterable[Mapping[str, Any]], pass_name: str = "training_step") -> Totals:
    """Totals of ``rows`` over ``pass_name`` (a pass, ``backward`` or ``training_step``),
    summed over the design points they hold: per point, each component pass from its
    ``*total*`` row when present, else summed over its layer rows."""
    if pass_name not in COMPONENTS:
        raise PlotError(f"unknown pass {pass_name!r}; choose one of {', '.join(COMPONENTS)}")
    keys = ("base_cycles", "compute_cycles", "stall_cycles", "energy_pj", "base_energy_pj")
    acc = dict.fromkeys(keys, 0.0)
    points: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for r in rows:
        points.setdefault(point_key(r), []).append(r)
    for point_rows in points.values():
        for comp in COMPONENTS[pass_name]:
            mine = [r for r in point_rows if r.get("pass") == comp]
            totals = [r for r in mine if r.get("layer") == TOTAL]
            for r in totals or mine:
                for k in keys:
                    acc[k] += float(r.get(k) or 0)
    return Totals(**acc)


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
