"""Results store of architecture sweeps: one embedded SQLite file (stdlib :mod:`sqlite3`).

One row per (trace digest, hardware digest, layer, pass) with every figure the simulator
reports, plus, per pass of every point, a total row whose ``layer`` is :data:`TOTAL`
(``"*total*"``): the sum over the layers exactly as :meth:`accelsim.simulate.Report.pass_total`
gives it.  A *point* is (trace digest, hardware digest); its rows of one pass and that pass's
total row are written in one transaction, so a pass of a point is complete exactly when its
total row exists (:meth:`ResultsStore.done`), and a sweep killed half-way loses nothing it
had finished and recomputes nothing on the next run.

Several processes may write one store at once: the database runs in WAL mode with a busy
timeout, every write is one ``BEGIN IMMEDIATE`` transaction, and rows are inserted with
``INSERT OR IGNORE`` (a point computed twice by two sweeps gives the same figures; the first
write wins).  WAL needs a local file system (not NFS).

Tables (for people who open the file with ``sqlite3``):

* ``results``: trace_digest, hardware_digest, layer, layer_index (-1 for totals), pass, the
  figures of :data:`FIGURES`, finished_at (unix seconds);
* ``points``: trace_digest, hardware_digest, passes done, params (JSON of the swept
  parameters), sweep (spec name), seconds (simulation time), worker, finished_at, label (the
  point's name), reference and reference_digest (the machine its speedups are against: the
  reference is a point of the sweep, its rows are ordinary rows);
* ``hardware``: hardware_digest, name, json (:meth:`accelsim.spec.hardware.Hardware.to_dict`);
* ``workloads``: trace_digest, trace, kind, model, dataset, method, sparsity, batch, step,
  json;
* ``failures``: points whose simulation raised (retried by the next run);
* ``skipped``: hardware combinations a sweep skipped as invalid, with the reason;
* view ``flat``: ``results`` joined with ``workloads``, the point's label, params and
  reference, the hardware parameters as columns named ``"array.tiles"`` etc., and the
  figures against the reference (regenerated when the hardware keys change).

Python: ``open_store(path).rows(...)`` / ``.totals(...)`` (see :meth:`ResultsStore.rows`),
``export(path, out)`` to CSV or Parquet.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from accelsim.explore.reading import joined_rows, total_rows
from accelsim.explore.records import (
    AREA_COLUMNS,
    FIGURES,
    TOTAL,
    PointRecord,
    area_columns,
    figures_of,
)
from accelsim.explore.sql import (
    BUSY_TIMEOUT_S,
    SCHEMA,
    SCHEMA_VERSION,
    StoreError,
    flat_view_sql,
    hardware_keys,
    match,
    merge_filters,
    sql_value,
    switch_to_wal,
    write_parquet,
)
from accelsim.fileio import atomic_path, ensure_dir
from accelsim.spec.hardware import load_hardware


class ResultsStore:
    """An open results store; use :func:`open_store`.  Not shared between threads."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn
        self._conn.row_factory = sqlite3.Row

    # ---- writing ----------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction (waits up to the busy timeout for the lock).
        A store the file system refuses to write (full, read-only) raises
        :class:`StoreError` naming it."""
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise _write_failed(self.path, exc) from None
        try:
            yield conn
        except sqlite3.OperationalError as exc:
            conn.execute("ROLLBACK")
            raise _write_failed(self.path, exc) from None
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise _write_failed(self.path, exc) from None


    def write_point(self, record: PointRecord) -> None:
        """Commit the rows of one point (all its layers and pass totals) atomically, with its
        hardware and workload descriptions.  Rows that already exist are kept as they are."""
        now = time.time()
        wl = record.workload
        cols = ["trace_digest", "hardware_digest", "layer", "layer_index", "pass", *FIGURES,
                "finished_at"]
        sql = (f"INSERT OR IGNORE INTO results ({', '.join(cols)}) VALUES "
               f"({', '.join('?' * len(cols))})")
        values = []
        hw = load_hardware(record.hardware)
        area = area_columns(hw)
        for layer, index, pass_name, b in record.rows:
            f = figures_of(b, hw)
            values.append((record.trace_digest, record.hardware_digest, layer, index, pass_name,
                           *(sql_value(f[k]) for k in FIGURES), now))
        with self.transaction() as conn:
            conn.execute(f"INSERT OR IGNORE INTO hardware VALUES (?, ?, ?, "
                         f"{', '.join('?' * len(AREA_COLUMNS))})",
                         (record.hardware_digest, record.hardware.get("name", ""),
                          json.dumps(record.hardware, sort_keys=True),
                          *(area[k] for k in AREA_COLUMNS)))
            conn.execute("INSERT OR IGNORE INTO workloads VALUES (?,?,?,?,?,?,?,?,?,?)",
                         (record.trace_digest, wl["trace"], wl["workload_kind"], wl.get("model"),
                          wl.get("dataset"), wl.get("method"), wl.get("sparsity"),
                          wl.get("batch"), wl.get("step"),
                          json.dumps(wl.get("json", {}), sort_keys=True)))
            conn.executemany(sql, values)
            old = conn.execute("SELECT passes FROM points WHERE trace_digest = ? AND "
                               "hardware_digest = ?",
                               (record.trace_digest, record.hardware_digest)).fetchone()
            passes = set(record.passes) | (set(old["passes"].split(",")) if old else set())
            conn.execute("INSERT OR REPLACE INTO points VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                         (record.trace_digest, record.hardware_digest,
                          ",".join(sorted(passes - {""})),
                          json.dumps(record.params, sort_keys=True), record.sweep,
                          record.seconds, record.worker or _worker_name(), now,
                          record.label, record.reference, record.reference_digest))
            conn.execute("DELETE FROM failures WHERE trace_digest = ? AND hardware_digest = ?",
                         (record.trace_digest, record.hardware_digest))

    def name_points(self, named: Iterable[tuple[str, str, str, Mapping[str, Any], str, str]],
                    sweep: str) -> None:
        """Give stored points the label, swept parameters and reference of the sweep now
        running (``(trace_digest, hardware_digest, label, params, reference name,
        reference digest)``): a point a later sweep runs again is named as that sweep names
        it, and measured against its reference.  Points not stored are left alone."""
        with self.transaction() as conn:
            conn.executemany("UPDATE points SET label = ?, params = ?, sweep = ?, reference = ?, "
                             "reference_digest = ? WHERE trace_digest = ? AND "
                             "hardware_digest = ?",
                             [(label, json.dumps(dict(params), sort_keys=True), sweep, ref,
                               ref_digest, trace, hw)
                              for trace, hw, label, params, ref, ref_digest in named])

    def record_failure(self, trace_digest: str, hardware_digest: str, error: str) -> None:
        """Remember that a point's simulation raised ``error`` (it stays not done)."""
        with self.transaction() as conn:
            conn.execute("INSERT INTO failures VALUES (?, ?, ?, ?)",
                         (trace_digest, hardware_digest, error, time.time()))

    def record_skipped(self, sweep: str, skipped: Iterable[tuple[Mapping[str, Any], str]]) -> None:
        """Remember the hardware combinations a sweep skipped as invalid, with the reason."""
        with self.transaction() as conn:
            conn.executemany("INSERT OR REPLACE INTO skipped VALUES (?, ?, ?)",
                             [(sweep, json.dumps(dict(p), sort_keys=True), r)
                              for p, r in skipped])

    # ---- reading ----------------------------------------------------------------------
    def done(self) -> dict[tuple[str, str], frozenset[str]]:
        """``(trace_digest, hardware_digest) -> passes whose rows are all stored``."""
        out: dict[tuple[str, str], set[str]] = {}
        for r in self._conn.execute("SELECT trace_digest, hardware_digest, pass FROM results "
                                    "WHERE layer = ?", (TOTAL,)):
            out.setdefault((r[0], r[1]), set()).add(r[2])
        return {k: frozenset(v) for k, v in out.items()}

    def points(self) -> list[dict[str, Any]]:
        """One dict per stored point: trace_digest, hardware_digest, passes (tuple), params
        (the swept parameters), sweep, seconds, worker, finished_at."""
        out = []
        for r in self._conn.execute("SELECT * FROM points ORDER BY finished_at"):
            d = dict(r)
            d["passes"] = tuple(p for p in d["passes"].split(",") if p)
            d["params"] = json.loads(d["params"])
            out.append(d)
        return out

    def failures(self) -> list[dict[str, Any]]:
        """Points whose last simulation raised: trace_digest, hardware_digest, error, at."""
        return [dict(r) for r in self._conn.execute("SELECT * FROM failures ORDER BY at")]

    def skipped(self) -> list[dict[str, Any]]:
        """Hardware combinations skipped as invalid: sweep, params (dict), reason."""
        return [{**dict(r), "params": json.loads(r["params"])}
                for r in self._conn.execute("SELECT * FROM skipped ORDER BY sweep, params")]

    def _joined(self, include_totals: bool) -> Iterator[dict[str, Any]]:
        return joined_rows(self._conn, include_totals)

    def rows(self, filters: Mapping[str, Any] | None = None, /, *, totals: bool = True,
             **kw: Any) -> list[dict[str, Any]]:
        """Every stored row matching the filters, as plain dicts (ordered by trace, point,
        pass, layer).

        Keys of a row: ``trace`` (the trace file's path, or ``synthetic:MODEL/DATASET/
        METHOD@SPARSITY/bB/sSEED``), ``trace_digest`` (blake2b of the file's bytes, or of the
        synthetic spec's canonical JSON, prefixed ``synthetic-``), ``hardware_digest``
        (:meth:`Hardware.digest`), ``label`` (the point's name: what its sweep set, e.g.
        ``T<4,6> tcle x1``), ``hardware_name`` (the base machine's name), every hardware
        parameter flattened (``"array.kind"``, ``"array.tiles"``, ``"array.rows"``, ...,
        ``"frontend.lookahead"``, ``"memory.bandwidth_gb_per_s"`` ...: the sections and keys
        of :meth:`Hardware.to_dict`), ``workload_kind`` ("trace" or "synthetic"), ``model``,
        ``dataset``, ``method``, ``sparsity`` (target weight sparsity, None if unknown),
        ``batch`` (samples), ``step`` (training step of a trace, None for synthetic),
        ``layer`` (the layer name, or ``"*total*"`` for the sum over layers of one pass),
        ``layer_index`` (position in the network, -1 for totals), ``pass`` ("forward",
        "backward_input", "backward_weight"), the stored figures :data:`FIGURES`
        (``base_cycles``, ``compute_cycles``, ``ideal_cycles``, ``stall_cycles``,
        ``effectual_macs``, ``pe_lane_cycles``, ``speedup_vs_own_dense`` (over the design's
        own dense twin), ``exploited_sparsity``, ``pe_utilisation``, ``time_s`` (seconds:
        cycles / clock), ``energy_pj`` and its parts ``energy_compute_pj``,
        ``energy_frontend_pj``, ``energy_buffers_pj``, ``energy_dram_pj``, ``base_energy_pj``,
        ``effectual_gops``, ``gops_per_w``, ``gops_per_mm2``, ``scheduled``: the figures of
        :func:`accelsim.yardstick.pass_figures`), the machine's ``area_mm2`` and
        ``area_compute_mm2``, ``area_frontend_mm2``, ``area_buffers_mm2``, ``params`` (JSON of
        the swept parameters), the figures against the point's reference machine
        (:data:`~accelsim.explore.records.REFERENCE_FIGURES`: ``reference`` (its name),
        ``reference_digest``, ``reference_time_s``, ``reference_energy_pj``, ``speedup`` =
        reference time / time, ``energy_efficiency`` = reference energy / energy, as
        ``pass_figures`` makes them; None when the reference's row is not stored) and
        ``finished_at`` (unix seconds when the row was committed).

        Filters: ``rows({"array.tiles": 16, "pass": "forward"})`` or keywords
        (``rows(model="resnet20", pass_="forward", layer=TOTAL)``; ``pass_`` stands for
        ``pass``); a value matches by equality, a list/tuple/set by membership.
        ``totals=False`` leaves out the ``"*total*"`` rows.  Raises :class:`StoreError` for an
        unknown key.
        """
        wanted = merge_filters(filters, kw)
        out = []
        for row in self._joined(totals):
            if _unknown := [k for k in wanted if k not in row]:
                raise StoreError(f"rows(): unknown key(s) {', '.join(_unknown)}; keys are "
                                 f"{', '.join(row)}")
            if all(match(row[k], v) for k, v in wanted.items()):
                out.append(row)
        return out

    def totals(self, filters: Mapping[str, Any] | None = None, /, **kw: Any) -> list[dict]:
        """Per point and pass, the totals over layers: the stored ``"*total*"`` rows of
        "forward", "backward_input" and "backward_weight" plus, when their parts are stored,
        "backward" (backward_input + backward_weight) and "training_step" (all three),
        summed like :meth:`accelsim.simulate.Report.totals` (ratios recomputed from the sums).
        Same keys and filters as :meth:`rows` (``layer`` is ``"*total*"``)."""
        wanted = merge_filters(filters, kw)
        out = []
        for row in total_rows(self._conn):
            if _unknown := [k for k in wanted if k not in row]:
                raise StoreError(f"totals(): unknown key(s) {', '.join(_unknown)}")
            if all(match(row[k], v) for k, v in wanted.items()):
                out.append(row)
        return out

    def count(self) -> int:
        """Number of stored result rows (totals included)."""
        return int(self._conn.execute("SELECT COUNT(*) FROM results").fetchone()[0])

    # ---- export -----------------------------------------------------------------------
    def export(self, out: str | os.PathLike[str], filters: Mapping[str, Any] | None = None,
               /, **kw: Any) -> Path:
        """Write :meth:`rows` (matching the filters) to ``out``: ``.csv`` (header = row keys,
        empty cell = None) or ``.parquet`` (pyarrow, typed columns).  Atomic (temp + rename)."""
        p = Path(out)
        suffix = p.suffix.lower()
        if suffix not in (".csv", ".parquet"):
            raise StoreError(f"export to {p}: unknown format {p.suffix or '(no suffix)'}; use a "
                             ".csv or .parquet file name")
        rows = self.rows(filters, **kw)
        wanted = merge_filters(filters, kw)
        if not rows and wanted:
            shown = ", ".join(f"{k}={v}" for k, v in wanted.items())
            raise StoreError(f"export to {p}: no row of {self.path} matches {shown}; check the "
                             "--where values (e.g. pass=forward, layer=*total*)")
        keys = (list(dict.fromkeys(k for r in rows for k in r)) if rows
                else ["trace", "trace_digest", "hardware_digest"])
        with atomic_path(p) as tmp:
            if suffix == ".csv":
                with open(tmp, "w", newline="", encoding="utf-8") as fh:
                    writer = csv.DictWriter(fh, fieldnames=keys, lineterminator="\n")
                    writer.writeheader()
                    writer.writerows(rows)
            else:
                write_parquet(tmp, rows, keys)
        return p

    # ---- life cycle ---------------------------------------------------------------------
    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _write_failed(path: Path, exc: sqlite3.Error) -> StoreError:
    """The one-line error of a store that cannot be written (``exc`` from SQLite)."""
    return StoreError(f"results store {path} cannot be written ({exc}); free some space, make "
                      "it writable, or give another --out")


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def open_store(path: str | os.PathLike[str], *, create: bool = True) -> ResultsStore:
    """Open (and with ``create``, create) the SQLite results store at ``path``.

    Sets WAL mode, ``synchronous = NORMAL`` and a busy timeout of :data:`BUSY_TIMEOUT_S`
    seconds; creates the tables when missing.  Raises :class:`StoreError` (one line) for a
    missing store (``create=False``), a file that is not a SQLite database, or another
    schema version."""
    p = Path(path)
    if not create and not p.is_file():
        raise StoreError(f"results store {p} does not exist; run `accelsim sweep SPEC --out {p}` "
                         "first")
    if p.is_dir():
        raise StoreError(f"results store {p} is a directory; give a file such as results.sqlite")
    if create:
        ensure_dir(p.parent)
    try:
        conn = sqlite3.connect(p, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(f"results store {p} cannot be opened: {exc}") from None
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        mode = switch_to_wal(conn)
        if str(mode).lower() != "wal":
            raise StoreError(f"results store {p}: cannot switch to WAL mode (got {mode}); put "
                             "the store on a local file system")
        conn.execute("PRAGMA synchronous = NORMAL")
        keys = hardware_keys()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for stmt in SCHEMA.split(";"):  # executescript() would commit early
                if stmt.strip():
                    conn.execute(stmt)
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is None:
                conn.execute("INSERT INTO meta VALUES ('schema_version', ?)",
                             (str(SCHEMA_VERSION),))
            elif row[0] != str(SCHEMA_VERSION):
                raise StoreError(f"results store {p} has schema version {row[0]}, this accelsim "
                                 f"writes {SCHEMA_VERSION}; use a new --out file")
            key_text = json.dumps(keys)
            old = conn.execute("SELECT value FROM meta WHERE key = 'flat_keys'").fetchone()
            if old is None or old[0] != key_text:
                conn.execute("DROP VIEW IF EXISTS flat")
                conn.execute(flat_view_sql(keys))
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('flat_keys', ?)", (key_text,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StoreError(f"results store {p} is not a usable SQLite database ({exc}); give a "
                         "new file or an accelsim results store") from None
    except BaseException:
        conn.close()
        raise
    return ResultsStore(p, conn)


def export(path: str | os.PathLike[str], out: str | os.PathLike[str],
           filters: Mapping[str, Any] | None = None, /, **kw: Any) -> Path:
    """Export the rows of the store at ``path`` (matching the filters) to ``out`` (.csv or
    .parquet); see :meth:`ResultsStore.export`."""
    with open_store(path, create=False) as store:
        return store.export(out, filters, **kw)


__all__ = ["ResultsStore", "StoreError", "export", "open_store"]
