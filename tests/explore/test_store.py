"""The results store: schema, atomic points, concurrent writers, totals, CSV/Parquet export."""

from __future__ import annotations

import csv
import math
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from accelsim import api
from accelsim.arrays.breakdown import CycleBreakdown
from accelsim.explore.records import FIGURES, TOTAL, PointRecord
from accelsim.explore.store import StoreError, export, open_store
from accelsim.spec.hardware import load_hardware
from tests.explore.store_checks import stored


def _record(hw, report, digest="t" * 32, params=None):
    rows = []
    for i, lr in enumerate(report.layers):
        rows += [(lr.geometry.name, i, p, b) for p, b in lr.passes.items()]
    rows += [(TOTAL, -1, p, report.pass_total(p)) for p in
             ("forward", "backward_input", "backward_weight")]
    info = {"trace": "synthetic:test", "workload_kind": "synthetic", "model": "digits-cnn",
            "dataset": "digits", "method": "swat-u", "sparsity": 0.9, "batch": 1,
            "step": None, "json": {}}
    return PointRecord(digest, hw.digest(), ("forward", "backward_input", "backward_weight"),
                       tuple(rows), hw.to_dict(), info, params or {}, "test", 0.01, "me")


@pytest.fixture(scope="module")
def report():
    return api.simulate_synthetic("digits-cnn", None, dataset="digits", batch=1)


def test_write_point_rows_and_totals_equal_the_report(tmp_path, report):
    hw = load_hardware(None)
    with open_store(tmp_path / "s.sqlite") as store:
        store.write_point(_record(hw, report))
        store.write_point(_record(hw, report))  # idempotent
        rows = store.rows(totals=False)
        assert len(rows) == sum(len(lr.passes) for lr in report.layers)
        by_key = {(r["layer"], r["pass"]): r for r in rows}
        for lr in report.layers:
            for p, b in lr.passes.items():
                row = by_key[(lr.geometry.name, p)]
                for k, v in stored(b).items():
                    assert row[k] == pytest.approx(v, rel=1e-12) if isinstance(v, float) \
                        else row[k] == v
                assert row["array.tiles"] == 16 and row["frontend.lookahead"] == 2
        totals = {r["pass"]: r for r in store.totals()}
        assert set(totals) == {"forward", "backward_input", "backward_weight", "backward",
                               "training_step"}
        for name, b in report.totals().items():
            for k, v in stored(b).items():
                assert totals[name][k] == pytest.approx(v, rel=1e-12) if isinstance(v, float) \
                    else totals[name][k] == v
        assert store.done() == {("t" * 32, hw.digest()): frozenset(
            {"forward", "backward_input", "backward_weight"})}
        assert store.rows(pass_="forward", layer=TOTAL)[0]["base_cycles"] == \
            report.totals()["forward"].base_cycles
        assert store.rows({"frontend.lookahead": [3, 4]}) == []
        with pytest.raises(StoreError, match="unknown key"):
            store.rows(nonsense=1)
        # the SQL view for people using sqlite3 directly
        conn = sqlite3.connect(tmp_path / "s.sqlite")
        n = conn.execute('SELECT COUNT(*) FROM flat WHERE "array.tiles" = 16').fetchone()[0]
        assert n == store.count()


def test_export_csv_and_parquet_round_trip(tmp_path, report):
    pq = pytest.importorskip("pyarrow.parquet")
    hw = load_hardware(None)
    with open_store(tmp_path / "s.sqlite") as store:
        store.write_point(_record(hw, report))
        store.write_point(_record(hw.replace(**{"frontend.lookahead": 4}), report))
        rows = store.rows()
    csv_path = export(tmp_path / "s.sqlite", tmp_path / "out" / "rows.csv")
    with open(csv_path, newline="") as fh:
        back = list(csv.DictReader(fh))
    assert len(back) == len(rows) and list(back[0]) == list(rows[0])
    for a, b in zip(rows, back, strict=True):
        for k, v in a.items():
            if v is None:
                assert b[k] == ""
            elif isinstance(v, bool):
                assert b[k] == str(v)
            elif isinstance(v, float):
                assert math.isclose(float(b[k]), v, rel_tol=1e-15)
            else:
                assert b[k] == str(v)
    pq_path = export(tmp_path / "s.sqlite", tmp_path / "rows.parquet")
    table = pq.read_table(pq_path)
    assert table.column_names == list(rows[0])
    assert table.to_pylist() == rows
    fw = export(tmp_path / "s.sqlite", tmp_path / "fw.parquet", {"pass": "forward"})
    assert pq.read_table(fw).num_rows == sum(1 for r in rows if r["pass"] == "forward")
    with pytest.raises(StoreError, match="unknown format"):
        export(tmp_path / "s.sqlite", tmp_path / "rows.xlsx")


def test_open_errors_are_one_line(tmp_path):
    bad = tmp_path / "not.sqlite"
    bad.write_text("hello, I am not a database\n" * 100)
    for call, match in ((lambda: open_store(bad), "not a usable SQLite database"),
                        (lambda: open_store(tmp_path / "none.sqlite", create=False),
                         "does not exist"),
                        (lambda: open_store(tmp_path), "is a directory")):
        with pytest.raises(StoreError, match=match) as exc:
            call()
        assert "\n" not in str(exc.value)


WRITER = textwrap.dedent("""
    import sys
    from accelsim.arrays.breakdown import CycleBreakdown
    from accelsim.spec.hardware import load_hardware
    from accelsim.explore.store import open_store
    from accelsim.explore.records import TOTAL, PointRecord
    path, who, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    info = {"trace": who, "workload_kind": "trace", "json": {}}
    with open_store(path) as store:
        for i in range(n):
            hw = load_hardware(None).replace(**{"array.tiles": i + 1})
            rows = [(f"layer{j}", j, "forward", CycleBreakdown(100 + j, 50, 10, 999, 4096))
                    for j in range(20)]
            rows.append((TOTAL, -1, "forward", CycleBreakdown(2190, 1000, 200, 19980, 81920)))
            store.write_point(PointRecord(who * 8, hw.digest(), ("forward",), tuple(rows),
                                          hw.to_dict(), info, {"array.tiles": i + 1}))
""")


def test_two_concurrent_writers_do_not_corrupt_the_store(tmp_path):
    path = tmp_path / "shared.sqlite"
    n = 40
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), who, str(n)])
             for who in ("aaaa", "bbbb")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with open_store(path) as store:
        assert store.count() == 2 * n * 21
        assert len(store.done()) == 2 * n
        assert len(store.points()) == 2 * n
        assert {r["trace"] for r in store.rows()} == {"aaaa", "bbbb"}


def test_figures_cover_the_breakdown():
    b = CycleBreakdown(10, 5, 2, 7, 40, 1, "filters", 3.0, 6.0)
    assert set(stored(b)) <= set(FIGURES)
