"""The SQLite side of the results store (:mod:`accelsim.explore.store`): schema, the flat
view, WAL switching, filter matching and the Parquet writer."""

from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from accelsim.errors import AccelsimError
from accelsim.explore.records import AREA_COLUMNS, COUNTS, FIGURES, flatten_hardware
from accelsim.spec.hardware import default_hardware


class StoreError(AccelsimError):
    """A results store that cannot be opened, is not a store, or has another schema."""


SCHEMA_VERSION = 2

BUSY_TIMEOUT_S = 120.0

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    trace_digest TEXT NOT NULL, hardware_digest TEXT NOT NULL, layer TEXT NOT NULL,
    layer_index INTEGER NOT NULL, pass TEXT NOT NULL,
    {", ".join(f"{k} INTEGER NOT NULL" for k in COUNTS)},
    {", ".join(f"{k} REAL" for k in FIGURES if k not in COUNTS and k != "scheduled")},
    scheduled TEXT, finished_at REAL NOT NULL,
    PRIMARY KEY (trace_digest, hardware_digest, layer, pass)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS points (
    trace_digest TEXT NOT NULL, hardware_digest TEXT NOT NULL, passes TEXT NOT NULL,
    params TEXT NOT NULL, sweep TEXT NOT NULL, seconds REAL NOT NULL, worker TEXT NOT NULL,
    finished_at REAL NOT NULL, label TEXT NOT NULL, reference TEXT NOT NULL,
    reference_digest TEXT NOT NULL, PRIMARY KEY (trace_digest, hardware_digest));
CREATE TABLE IF NOT EXISTS hardware (
    hardware_digest TEXT PRIMARY KEY, name TEXT NOT NULL, json TEXT NOT NULL,
    {", ".join(f"{k} REAL" for k in AREA_COLUMNS)});
CREATE TABLE IF NOT EXISTS workloads (
    trace_digest TEXT PRIMARY KEY, trace TEXT NOT NULL, kind TEXT NOT NULL, model TEXT,
    dataset TEXT, method TEXT, sparsity REAL, batch INTEGER, step INTEGER, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS failures (
    trace_digest TEXT NOT NULL, hardware_digest TEXT NOT NULL, error TEXT NOT NULL,
    at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS claims (
    trace_digest TEXT NOT NULL, hardware_digest TEXT NOT NULL, owner TEXT NOT NULL,
    host TEXT NOT NULL, pid INTEGER NOT NULL, expires_at REAL NOT NULL,
    PRIMARY KEY (trace_digest, hardware_digest));
CREATE TABLE IF NOT EXISTS skipped (
    sweep TEXT NOT NULL, params TEXT NOT NULL, reason TEXT NOT NULL,
    PRIMARY KEY (sweep, params));
"""

def hardware_keys() -> list[str]:
    return [k for k in flatten_hardware(default_hardware().to_dict()) if k != "hardware_name"]


def write_parquet(path: Path, rows: list[dict[str, Any]], keys: list[str]) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise StoreError("Parquet export needs pyarrow; pip install pyarrow, or "
                         "export to .csv") from None
    table = pa.Table.from_pylist(rows) if rows else pa.table(
        {k: pa.array([], pa.string()) for k in keys})
    pq.write_table(table, path)


def sql_value(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def merge_filters(filters: Mapping[str, Any] | None, kw: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(filters or {})
    for k, v in kw.items():
        out["pass" if k == "pass_" else k] = v
    return out


def match(value: Any, wanted: Any) -> bool:
    if isinstance(wanted, (list, tuple, set, frozenset)):
        return value in wanted
    return value == wanted


#: the speedup of row ``r`` against the reference's row ``x`` as
#: :func:`accelsim.yardstick.pass_figures` makes it: at equal clocks the ratio of the cycles,
#: else of the times; 1.0 when the design took no time; NULL without the reference's row
SPEEDUP_SQL = (
    "CASE WHEN x.time_s IS NULL THEN NULL "
    "WHEN json_extract(h.json, '$.array.clock_ghz') = json_extract(hx.json, "
    "'$.array.clock_ghz') THEN CASE WHEN r.compute_cycles + r.stall_cycles = 0 THEN 1.0 "
    "ELSE CAST(x.compute_cycles + x.stall_cycles AS REAL) / (r.compute_cycles + "
    "r.stall_cycles) END "
    "WHEN r.time_s = 0 THEN 1.0 ELSE x.time_s / r.time_s END")
EFFICIENCY_SQL = ("CASE WHEN x.energy_pj IS NULL THEN NULL WHEN r.energy_pj = 0 THEN 1.0 "
                  "ELSE x.energy_pj / r.energy_pj END")


def flat_view_sql(keys: Sequence[str]) -> str:
    """The ``flat`` view: every result row with its workload, its point's label, swept
    parameters and reference, the hardware parameters and area as columns, and the figures
    against the reference (its row of the same trace, layer and pass), as
    ``ResultsStore.rows`` gives them."""
    hw = ", ".join(f"json_extract(h.json, '$.{k}') AS \"{k}\"" for k in keys)
    return ("CREATE VIEW flat AS SELECT r.trace_digest, r.hardware_digest, w.trace, w.kind AS "
            "workload_kind, w.model, w.dataset, w.method, w.sparsity, w.batch, w.step, "
            f"h.name AS hardware_name, p.label, p.params, {hw}, "
            + ", ".join(f"h.{k}" for k in AREA_COLUMNS) + ", r.layer, r.layer_index, "
            "r.pass, " + ", ".join(f"r.{k}" for k in FIGURES) +
            ", p.reference, p.reference_digest, x.time_s AS reference_time_s, "
            f"x.energy_pj AS reference_energy_pj, {SPEEDUP_SQL} AS speedup, "
            f"{EFFICIENCY_SQL} AS energy_efficiency, "
            "r.finished_at FROM results r JOIN workloads w USING (trace_digest) "
            "JOIN hardware h USING (hardware_digest) "
            "LEFT JOIN points p ON p.trace_digest = r.trace_digest "
            "AND p.hardware_digest = r.hardware_digest "
            "LEFT JOIN results x ON x.trace_digest = r.trace_digest "
            "AND x.hardware_digest = p.reference_digest AND x.layer = r.layer "
            "AND x.pass = r.pass "
            "LEFT JOIN hardware hx ON hx.hardware_digest = p.reference_digest")


def switch_to_wal(conn: sqlite3.Connection) -> str:
    """``PRAGMA journal_mode = WAL``, retried while another process holds the file: SQLite
    reports "database is locked" for a journal-mode change at once, without waiting for
    the busy timeout (two sweeps creating one store at the same moment)."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    delay = 0.01
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(0.5, delay * 2)


