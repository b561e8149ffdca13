"""Reading the results store: rows joined with their workload, hardware (parameters and
area) and point (label, swept parameters, reference), the figures against each point's
reference machine, and the totals of several passes -- every figure made by
:func:`accelsim.yardstick.pass_figures`, as in a simulation report."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from typing import Any

from accelsim.arrays.breakdown import ZERO, CycleBreakdown
from accelsim.errors import AccelsimError
from accelsim.explore.records import (
    AREA_COLUMNS,
    DERIVED,
    FIGURES,
    TOTAL,
    WORKLOAD_KEYS,
    against_reference,
    breakdown_of,
    figures_of,
    flatten_hardware,
)
from accelsim.spec.hardware import Hardware, load_hardware

__all__ = ["Machines", "joined_rows", "total_rows"]


class Machines:
    """The machines of a store by hardware digest: flattened parameters and area columns
    (row keys), and the :class:`Hardware` itself (built once each, for the figures)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._rows = {r["hardware_digest"]: dict(r) for r in conn.execute(
            "SELECT hardware_digest, json, " + ", ".join(AREA_COLUMNS) + " FROM hardware")}
        self._flat: dict[str, dict[str, Any]] = {}
        self._hw: dict[str, Hardware | None] = {}

    def flat(self, digest: str) -> dict[str, Any]:
        """``{hardware_name, "array.tiles": ..., ..., area_mm2, area_<part>_mm2}``."""
        if digest not in self._flat:
            row = self._rows.get(digest)
            self._flat[digest] = {} if row is None else {
                **flatten_hardware(json.loads(row["json"])),
                **{k: row[k] for k in AREA_COLUMNS}}
        return self._flat[digest]

    def hardware(self, digest: str) -> Hardware | None:
        """The machine of ``digest``, None when the store does not hold it."""
        if digest not in self._hw:
            row = self._rows.get(digest)
            try:
                self._hw[digest] = None if row is None else load_hardware(json.loads(row["json"]))
            except AccelsimError:
                self._hw[digest] = None
        return self._hw[digest]


def _reference_figures(row: dict[str, Any], ref: Mapping[str, Any] | None,
                       point: Mapping[str, Any], machines: Machines) -> dict[str, Any]:
    digest = point.get("reference_digest") or ""
    return against_reference(breakdown_of(row), machines.hardware(row["hardware_digest"]),
                             None if ref is None else breakdown_of(ref),
                             machines.hardware(digest) if ref is not None else None,
                             point.get("reference") or "", digest)


def joined_rows(conn: sqlite3.Connection, include_totals: bool,
                machines: Machines | None = None) -> Iterator[dict[str, Any]]:
    """Every result row (totals too with ``include_totals``) with its workload, hardware,
    area, point label and params, and its figures against the point's reference machine
    (see :meth:`accelsim.explore.store.ResultsStore.rows`)."""
    machines = machines or Machines(conn)
    points = {(r["trace_digest"], r["hardware_digest"]): dict(r) for r in conn.execute(
        "SELECT trace_digest, hardware_digest, label, params, reference, reference_digest "
        "FROM points")}
    sql = ("SELECT r.trace_digest, r.hardware_digest, w.trace, w.kind AS workload_kind, "
           "w.model, w.dataset, w.method, w.sparsity, w.batch, w.step, r.layer, "
           "r.layer_index, r.pass, " + ", ".join(f"r.{k}" for k in FIGURES) +
           ", r.finished_at FROM results r JOIN workloads w USING (trace_digest)"
           + ("" if include_totals else f" WHERE r.layer != '{TOTAL}'") +
           " ORDER BY w.trace, r.trace_digest, r.hardware_digest, r.pass, r.layer_index")
    rows = []
    for r in conn.execute(sql):
        d = dict(r)
        point = points.get((d["trace_digest"], d["hardware_digest"]), {})
        row = {k: d[k] for k in ("trace", "trace_digest", "hardware_digest")}
        row["label"] = point.get("label") or None
        row.update(machines.flat(d["hardware_digest"]))
        row.update({k: d[k] for k in WORKLOAD_KEYS[1:]})
        row.update({k: d[k] for k in ("layer", "layer_index", "pass", *FIGURES)})
        row["params"] = point.get("params")
        row["finished_at"] = d["finished_at"]
        rows.append((row, point))
    index = {(r["trace_digest"], r["hardware_digest"], r["layer"], r["pass"]): r
             for r, _ in rows}
    for row, point in rows:
        ref = index.get((row["trace_digest"], point.get("reference_digest") or "",
                         row["layer"], row["pass"]))
        finished = row.pop("finished_at")
        row.update(_reference_figures(row, ref, point, machines))
        row["finished_at"] = finished
        yield row


def _sum(rows: list[Mapping[str, Any]]) -> CycleBreakdown:
    total = ZERO
    for r in rows:
        total = total + breakdown_of(r)
    return total


def _derived(template: Mapping[str, Any], parts: list[Mapping[str, Any]],
             ref_parts: list[Mapping[str, Any]] | None, machines: Machines) -> dict[str, Any]:
    """The total row of several passes of one point: the breakdowns summed, every figure
    made again from the sums (against the reference when all its parts are stored)."""
    hw = machines.hardware(template["hardware_digest"])
    total = _sum(parts)
    row = dict(template)
    if hw is not None:
        row.update(figures_of(total, hw))
    digest = template.get("reference_digest") or ""
    ref_hw = machines.hardware(digest) if ref_parts is not None else None
    row.update(against_reference(total, hw, None if ref_parts is None else _sum(ref_parts),
                                 ref_hw, template.get("reference") or "", digest))
    row["finished_at"] = max(p["finished_at"] for p in parts)
    return row


def total_rows(conn: sqlite3.Connection) -> Iterator[dict[str, Any]]:
    """Per point: its stored ``*total*`` rows, then "backward" and "training_step" made from
    them when their parts are stored (see :meth:`accelsim.explore.store.ResultsStore.totals`)."""
    machines = Machines(conn)
    by_point: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for row in joined_rows(conn, True, machines):
        if row["layer"] == TOTAL:
            by_point.setdefault((row["trace_digest"], row["hardware_digest"]),
                                {})[row["pass"]] = row
    for (trace, _), passes in by_point.items():
        yield from passes.values()
        template = next(iter(passes.values()))
        ref = by_point.get((trace, template.get("reference_digest") or ""), {})
        for name, parts in DERIVED.items():
            if all(p in passes for p in parts):
                ref_parts = [ref[p] for p in parts] if all(p in ref for p in parts) else None
                derived = _derived(template, [passes[p] for p in parts], ref_parts, machines)
                derived["pass"] = name
                yield derived
