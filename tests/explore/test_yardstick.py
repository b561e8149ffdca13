"""Sweeps on one yardstick (issue 13, items 5 and 6): every point named by what its sweep
set, every speedup against the sweep's reference machine (a point of the sweep), time as
the measure of "fastest", and exports that would be empty are errors."""

from __future__ import annotations

import pytest

from accelsim import api
from accelsim.cli import main
from accelsim.explore.labels import point_label
from accelsim.explore.load import load_sweep
from accelsim.explore.records import TOTAL
from accelsim.explore.run import run_sweep
from accelsim.explore.spec import SweepError
from accelsim.explore.store import StoreError, export, open_store
from accelsim.pipeline.area import AREA_PARTS
from accelsim.pipeline.energy import ENERGY_PARTS

DIGITS = {"synthetic": [{"model": "digits-cnn", "dataset": "digits", "sparsity": 0.9}]}
BACKENDS = {"grid": {"backend.kind": ["bit-parallel", "tcle"]}, "workloads": DIGITS}


@pytest.fixture(scope="module")
def backends_store(tmp_path_factory):
    """The issue's new-user sweep: backend.kind = ["bit-parallel", "tcle"], one column."""
    path = tmp_path_factory.mktemp("yardstick") / "r.sqlite"
    result = run_sweep(load_sweep(BACKENDS), path, workers=1, progress=False)
    assert result.computed == 3 and not result.failed     # two designs + the reference
    return path


def test_point_label_names_what_the_sweep_set():
    hw = {"name": "bit-tactical T<2,5>", "frontend.kind": "tcl", "frontend.shape": "T",
          "frontend.lookahead": 4, "frontend.lookaside": 6, "backend.kind": "tcle",
          "array.columns": 1, "memory.bandwidth_gb_per_s": 12.8}
    keys = ("frontend.lookahead", "backend.kind", "array.columns", "frontend.lookaside")
    assert point_label(keys, hw, "base") == "T<4,6> tcle x1"
    assert point_label(("memory.bandwidth_gb_per_s",), hw) == "memory.bandwidth_gb_per_s=12.8"
    assert point_label((), hw, "bit-tactical T<2,5>") == "bit-tactical T<2,5>"
    assert point_label(("frontend.kind",), {**hw, "frontend.kind": "dense"}) == "dense"


def test_every_point_is_named_by_its_parameters(backends_store, tmp_path):
    spec = load_sweep({"grid": {"frontend.lookahead": [1, 4], "backend.kind": "tcle"},
                       "workloads": DIGITS})
    assert [hp.label for hp in spec.hardware] == ["T<1,5> tcle", "T<4,5> tcle",
                                                  "dadiannao (reference)"]
    with open_store(backends_store) as store:
        rows = store.rows(pass_="forward", layer=TOTAL)
    assert {r["label"] for r in rows} == {"bit-parallel", "tcle", "dadiannao (reference)"}
    # the base machine's name stays in hardware_name; the label is what tells points apart
    assert {r["hardware_name"] for r in rows if r["label"] != "dadiannao (reference)"} == {
        "bit-tactical T<2,5>"}
    text = export(backends_store, tmp_path / "r.csv", {"layer": TOTAL}).read_text()
    header = text.splitlines()[0].split(",")
    assert "label" in header and "bit-parallel" in text and "tcle" in text


def test_fastest_is_least_time_and_speedups_share_the_reference(backends_store):
    """The issue: TCLe x1 showed 6.17x (over its own slow twin) and bit-parallel 2.81x,
    though bit-parallel took far fewer cycles.  Against one reference the faster design
    has the larger speedup."""
    with open_store(backends_store) as store:
        step = {r["label"]: r for r in store.totals(pass_="training_step")}
    fast, slow = step["bit-parallel"], step["tcle"]
    assert fast["time_s"] < slow["time_s"]
    assert fast["speedup"] > slow["speedup"]
    # the old, self-relative figure ranks them the other way: it is kept, renamed
    assert slow["speedup_vs_own_dense"] > fast["speedup_vs_own_dense"]
    for r in step.values():
        assert r["reference"] == "dadiannao"
        assert r["speedup"] == pytest.approx(r["reference_time_s"] / r["time_s"])
    assert step["dadiannao (reference)"]["speedup"] == 1.0
    assert step["dadiannao (reference)"]["energy_efficiency"] == 1.0


def test_rows_time_is_cycles_over_clock(backends_store):
    with open_store(backends_store) as store:
        for r in store.rows(pass_="forward"):
            cycles = r["compute_cycles"] + r["stall_cycles"]
            assert r["time_s"] == cycles / (r["array.clock_ghz"] * 1e9)


def test_flat_view_has_the_same_figures(backends_store):
    import sqlite3
    conn = sqlite3.connect(backends_store)
    conn.row_factory = sqlite3.Row
    flat = {(r["label"], r["layer"], r["pass"]): dict(r) for r in conn.execute(
        "SELECT * FROM flat")}
    with open_store(backends_store) as store:
        rows = store.rows()
    assert len(flat) == len(rows)
    for r in rows:
        f = flat[(r["label"], r["layer"], r["pass"])]
        for key in ("speedup", "reference", "reference_time_s", "energy_efficiency", "time_s",
                    "area_mm2", "energy_dram_pj", "gops_per_w"):
            assert f[key] == r[key], key   # the SQL view makes them as pass_figures does


def test_reference_in_the_spec(tmp_path):
    spec = load_sweep({**BACKENDS, "reference": "bit-tactical"})
    # the reference is one of the design points: it is not added twice
    assert len(spec.hardware) == 2 and spec.reference_point.label == "bit-parallel"
    for bad, match in (("no-such-machine", "reference = \"no-such-machine\""),
                       (3, "must be a built-in hardware name")):
        with pytest.raises(SweepError, match=match) as exc:
            load_sweep({**BACKENDS, "reference": bad})
        assert "\n" not in str(exc.value)
    toml = tmp_path / "ref.toml"
    toml.write_text('name = "my reference"\n[frontend]\nkind = "dense"\n')
    (tmp_path / "s.toml").write_text('reference = "ref.toml"\n[grid]\n"backend.kind" = '
                                     '"bit-parallel"\n[[workloads.synthetic]]\n'
                                     'model = "digits-cnn"\ndataset = "digits"\n')
    assert load_sweep(tmp_path / "s.toml").reference.name == "my reference"


def test_a_later_sweep_names_and_measures_the_points_it_shares(tmp_path):
    path = tmp_path / "r.sqlite"
    run_sweep(load_sweep(BACKENDS), path, workers=1, progress=False)
    again = run_sweep(load_sweep({**BACKENDS, "reference": "bit-tactical", "name": "two"}),
                      path, workers=1, progress=False)
    assert again.computed == 0 and again.already_done == 2
    with open_store(path) as store:
        rows = {r["label"]: r for r in store.totals(pass_="training_step")}
        points = {p["hardware_digest"]: p for p in store.points()}
    assert rows["bit-parallel"]["reference"] == "bit-tactical T<2,5>"
    assert rows["bit-parallel"]["speedup"] == 1.0
    assert len(points) == 3 and {p["sweep"] for p in points.values()} == {"sweep", "two"}


def test_export_where_matching_nothing_is_an_error(backends_store, tmp_path, capsys):
    with pytest.raises(StoreError, match="no row .* matches pass=sideways"):
        export(backends_store, tmp_path / "x.csv", {"pass": "sideways"})
    assert not (tmp_path / "x.csv").exists()
    code = main(["sweep", "--out", str(backends_store), "--export", str(tmp_path / "x.csv"),
                 "--where", "frontend.lookahead=99"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "frontend.lookahead=99" in err


def _flat(figures):
    """A report's figures of one pass with the energy breakdown as store columns."""
    out = {k: v for k, v in figures.items() if k not in ("energy_breakdown_pj", "quantisation")}
    out.update({f"energy_{k}_pj": v for k, v in figures["energy_breakdown_pj"].items()})
    return out


def test_the_store_holds_every_figure_of_the_report(backends_store):
    """Per layer and pass, and in the totals of every pass and sum of passes, a stored row
    has exactly the figures `accelsim simulate` reports against the same reference: time,
    speedup, energy and its breakdown, energy efficiency, GOPS, GOPS/W, GOPS/mm2; and the
    machine's area."""
    spec = load_sweep(BACKENDS)
    with open_store(backends_store) as store:
        for hp in spec.hardware:
            report = api.simulate_synthetic("digits-cnn", hp.hardware, dataset="digits",
                                            sparsity=0.9, reference="dadiannao")
            machine = report.to_dict()
            rows = {(r["layer"], r["pass"]): r
                    for r in store.rows(hardware_digest=hp.digest, totals=False)}
            for lr in report.layers:
                for p in lr.passes:
                    row = rows[(lr.geometry.name, p)]
                    assert {k: row[k] for k in _flat(lr.figures(p))} == _flat(lr.figures(p))
                    assert row["area_mm2"] == machine["area_mm2"]
                    assert sum(row[f"energy_{k}_pj"] for k in ENERGY_PARTS) == pytest.approx(
                        row["energy_pj"], rel=1e-12)
            totals = {r["pass"]: r for r in store.totals(hardware_digest=hp.digest)}
            for name, figures in report.total_figures().items():
                assert {k: totals[name][k] for k in _flat(figures)} == _flat(figures), name
            assert {k: rows[next(iter(rows))][f"area_{k}_mm2"] for k in AREA_PARTS} == \
                machine["area_breakdown_mm2"]
