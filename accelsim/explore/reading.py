"""Reading the results store: rows joined with their workload, hardware and point, the
figures against each point's reference machine, and the totals of several passes."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from typing import Any

from accelsim.arrays.breakdown import ZERO
from accelsim.explore.records import (
    FIGURES,
    TOTAL,
    WORKLOAD_KEYS,
    against_reference,
    breakdown_of,
    figures_of,
    flatten_hardware,
)

__all__ = ["derived_total", "joined_rows"]


def joined_rows(conn: sqlite3.Connection, include_totals: bool) -> Iterator[dict[str, Any]]:
    """Every result row (totals too with ``include_totals``) with its workload, hardware,
    point label and params, and its figures against the point's reference machine (see
    :meth:`accelsim.explore.store.ResultsStore.rows`)."""
    hardware = {r["hardware_digest"]: flatten_hardware(json.loads(r["json"]))
                for r in conn.execute("SELECT hardware_digest, json FROM hardware")}
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
        row.update(hardware.get(d["hardware_digest"], {}))
        row.update({k: d[k] for k in WORKLOAD_KEYS[1:]})
        row.update({k: d[k] for k in ("layer", "layer_index", "pass", *FIGURES)})
        row["params"] = point.get("params")
        row["finished_at"] = d["finished_at"]
        rows.append((row, point))
    index = {(r["trace_digest"], r["hardware_digest"], r["layer"], r["pass"]): r
             for r, _ in rows}
    for row, point in rows:
        digest = point.get("reference_digest") or ""
        ref = index.get((row["trace_digest"], digest, row["layer"], row["pass"]))
        figures = against_reference(row, ref, point.get("reference") or "", digest)
        finished = row.pop("finished_at")
        row.update(figures)
        row["finished_at"] = finished
        yield row


def derived_total(template: Mapping[str, Any], parts: list[Mapping[str, Any]]
                   ) -> dict[str, Any]:
    """The total row of several passes of one point: counts, time and energy summed, the
    ratios recomputed from the sums (own dense, and against the reference when every part
    has its reference row)."""
    total = ZERO
    for part in parts:
        total = total + breakdown_of(part)
    row = dict(template)
    row.update(figures_of(total, 1.0))
    row["time_s"] = sum(part["time_s"] for part in parts)
    ref_parts = [p for p in parts if p.get("reference_time_s") is not None]
    ref = None
    if len(ref_parts) == len(parts):
        ref = {"time_s": sum(p["reference_time_s"] for p in parts),
               "energy_pj": sum(p["reference_energy_pj"] or 0.0 for p in parts)}
    row.update(against_reference(row, ref, template.get("reference") or "",
                                 template.get("reference_digest") or ""))
    return row
