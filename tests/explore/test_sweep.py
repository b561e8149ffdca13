"""Sweeps: spec parsing and its errors, cross products, results equal to direct simulation,
resume after an interruption (limit and SIGKILL), local processes and Dask, the CLI."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from accelsim import api, simulate
from accelsim.cli import main
from accelsim.explore import executors
from accelsim.explore.load import load_sweep
from accelsim.explore.records import TOTAL
from accelsim.explore.run import run_sweep
from accelsim.explore.spec import SweepError
from accelsim.explore.store import open_store
from accelsim.kernels.ahead import compile_ahead
from tests.explore.store_checks import stored

SYN = {"model": "digits-cnn", "dataset": "digits", "sparsity": [0.8, 0.9]}
PASSES3 = ("forward", "backward_input", "backward_weight")


def spec(**over):
    data = {"grid": {"frontend.lookahead": [1, 2]}, "workloads": {"synthetic": [dict(SYN)]}}
    data.update(over)
    return data


def _strip(rows):
    return [{k: v for k, v in r.items() if k != "finished_at"} for r in rows]


def test_spec_parsing_ranges_points_zip_and_size(tmp_path):
    text = """
        name = "t"
        passes = ["forward", "backward-input"]
        [base]
        hardware = "dadiannao"
        [grid]
        "frontend.lookahead" = {start = 0, stop = 4, step = 2}
        "array.tiles" = {start = 4, stop = 16, factor = 2}
        [grid.memory]
        bandwidth_gb_per_s = [12.8, 25.6]
        [[points]]
        "backend.kind" = "tclp"
        [[points]]
        "backend.kind" = "bit-parallel"
        [zip]
        "array.rows" = [16, 8]
        "array.columns" = [1, 2]
        [[workloads.synthetic]]
        model = "digits-cnn"
        dataset = "digits"
        sparsity = [0.5, 0.9]
        seed = [0, 1]
    """
    path = tmp_path / "s.toml"
    path.write_text(text)
    s = load_sweep(path)
    assert s.name == "t" and s.passes == ("forward", "backward_input")
    assert dict(s.grid) == {"frontend.lookahead": (0, 2, 4), "array.tiles": (4, 8, 16),
                            "memory.bandwidth_gb_per_s": (12.8, 25.6)}
    # 4 points x 18 grid combinations; the zip point {rows 16, columns 1} is the base, as is
    # the point {backend.kind = "bit-parallel"}: same digest, run once
    assert len(s.hardware) == 3 * 18 and len(s.workloads) == 4
    assert s.size == 54 * 4
    assert s.base.frontend.kind == "dense" and not s.skipped
    hp = s.hardware[-1]
    assert hp.params == {"array.rows": 8, "array.columns": 2, "frontend.lookahead": 4,
                         "array.tiles": 16, "memory.bandwidth_gb_per_s": 25.6}
    assert hp.hardware == s.base.replace(**hp.params) and hp.digest == hp.hardware.digest()
    assert len({h.digest for h in s.hardware}) == len(s.hardware)
    # float ranges are rounded, inclusive
    s2 = load_sweep(spec(grid={"memory.bandwidth_gb_per_s": {"start": 0.1, "stop": 0.3,
                                                              "step": 0.1}}))
    assert dict(s2.grid)["memory.bandwidth_gb_per_s"] == (0.1, 0.2, 0.3)


def test_keys_a_dict_omits_at_their_default_can_be_swept():
    s = load_sweep(spec(grid={"frontend.fold_first_layer": [True, False],
                              "backend.idle_padding_rows": [False],
                              "backend.signed_precision": ["auto", "sign-magnitude"]}))
    points = [hp for hp in s.hardware if hp.params]
    assert len(points) == 2 * 2
    assert {(hp.hardware.frontend.fold_first_layer, hp.hardware.backend.idle_padding_rows)
            for hp in points} == {(True, False), (False, False)}
    assert points[0].label == ("backend.idle_padding_rows=false backend.signed_precision=auto "
                               "frontend.fold_first_layer=true")


def test_invalid_combinations_skip_or_error():
    data = spec(grid={"array.lanes": [4, 16], "frontend.lookaside": [2, 5]})
    s = load_sweep(data)
    assert len(s.hardware) == 3 + 1 and len(s.skipped) == 1   # + the reference machine
    assert s.skipped[0].params == {"array.lanes": 4, "frontend.lookaside": 5}
    assert "lookaside = 5 must be < [array] lanes = 4" in s.skipped[0].reason
    with pytest.raises(SweepError, match="is invalid: .*set invalid = \"skip\""):
        load_sweep({**data, "invalid": "error"})
    with pytest.raises(SweepError, match=r"\[grid\] frontend.lookaside = 20 gives no valid "):
        load_sweep(spec(grid={"array.lanes": [4, 16], "frontend.lookaside": [2, 20]}))


BAD = [
    ({"grdi": {}}, "grdi is not a known top-level key (did you mean grid?)"),
    ({"grid": {"frontend.lookahed": [1]}}, "frontend.lookahed is not a hardware parameter "
                                           "(did you mean frontend.lookahead?)"),
    ({"grid": {"frontend": {"lookahed": [1]}}}, "frontend.lookahed is not a hardware"),
    ({"grid": {"frontend.lookahead": []}}, "empty list"),
    ({"grid": {"frontend.lookahead": [[1]]}}, "must be a number, string or boolean"),
    ({"grid": {"frontend.lookahead": {"start": 0, "stop": 4, "stp": 1}}}, "a range is"),
    ({"grid": {"frontend.lookahead": {"start": 4, "stop": 0}}}, "below start"),
    ({"grid": {"frontend.lookahead": {"start": 0, "stop": 4, "step": 0}}}, "step = 0 must be > 0"),
    ({"grid": {"array.tiles": {"start": 0, "stop": 4, "factor": 2}}}, "geometric range"),
    ({"grid": {"frontend.lookahead": {"start": 0, "stop": 1e9}}}, "more than 10000"),
    ({"grid": {"frontend.lookahead": [-1]}}, "lookahead = -1: h < 0"),
    ({"grid": {"frontend.lookahead": ["two"]}}, "must be an integer"),
    ({"grid": {"backend.kind": ["tcl-e"]}}, "is not one of"),
    ({"grid": {"frontend.lookahead": [1]}, "points": [{"frontend.lookahead": 2}]},
     "set in both [grid] and [[points]]"),
    ({"points": [{}]}, "[[points]] #1 is empty"),
    ({"points": "x"}, "points must be an array of tables"),
    ({"zip": {"array.rows": [16, 8], "array.columns": [1]}}, "equal length"),
    ({"passes": ["forwards"]}, "\"forwards\" is not a pass (did you mean forward?)"),
    ({"passes": []}, "must be a non-empty list"),
    ({"invalid": "ignore"}, "invalid = \"ignore\" must be"),
    ({"name": ""}, "name = \"\" must be a non-empty string"),
    ({"base": {"hardware": "no-such-hw"}}, "[base] hardware: hardware file no-such-hw not found"),
    ({"base": {"hw": "x"}}, "[base] hw is not a known key"),
    ({"workloads": {}}, "[workloads] is missing"),
    ({"workloads": {"trace": ["x"]}}, "[workloads] trace is not a known key (did you mean "
                                      "traces?)"),
    ({"workloads": {"traces": ["nowhere/*.trace"]}}, "matches no file"),
    ({"workloads": {"traces": ["missing.trace"]}}, "missing.trace does not exist"),
    ({"workloads": {"traces": "x", "run_steps": "first"}}, "run_steps = \"first\""),
    ({"workloads": {"synthetic": [{"sparsity": 0.9}]}}, "model is missing"),
    ({"workloads": {"synthetic": [{"model": "resnet99"}]}}, "resnet99"),
    ({"workloads": {"synthetic": [{"model": "digits-cnn", "sparsity": 1.5}]}}, "1.5"),
    ({"workloads": {"synthetic": [{"model": "digits-cnn", "sparsty": 0.5}]}},
     "sparsty is not a known key (did you mean sparsity?)"),
    ({"workloads": {"synthetic": [{"model": "digits-cnn", "batch": 0}]}}, "batch = 0"),
]


@pytest.mark.parametrize(("over", "message"), BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_specs_raise_one_line_errors(tmp_path, over, message):
    with pytest.raises(SweepError) as exc:
        load_sweep(spec(**over), base_dir=tmp_path)
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_bad_files(tmp_path):
    with pytest.raises(SweepError, match="not found"):
        load_sweep(tmp_path / "none.toml")
    (tmp_path / "bad.toml").write_text("[grid\n")
    with pytest.raises(SweepError, match=r"bad.toml: TOML syntax error"):
        load_sweep(tmp_path / "bad.toml")
    (tmp_path / "key.toml").write_text("[grid]\n'array.tilez' = [1]\n")
    with pytest.raises(SweepError, match=r"key.toml: \[grid\]: array.tilez is not"):
        load_sweep(tmp_path / "key.toml")


def test_rows_equal_direct_simulation(tmp_path):
    trace = api.synthetic_trace(tmp_path / "t" / "d.trace", model="digits-cnn", dataset="digits",
                                method="swat-u", sparsity=0.7, batch=1, seed=3)
    data = {"grid": {"frontend.lookahead": [1, 3]},
            "points": [{"backend.kind": "bit-parallel"},
                       {"backend.kind": "tclp", "array.columns": 4}],
            "workloads": {"traces": ["t"], "synthetic": [dict(SYN)]}}
    s = load_sweep(data, base_dir=tmp_path)
    assert s.size == 3 * (4 + 1)   # 3 workloads x (4 designs + the reference)
    result = run_sweep(s, tmp_path / "r.sqlite", workers=1, progress=False)
    assert result.computed == 15 and not result.failed
    store = open_store(tmp_path / "r.sqlite")
    for hp in s.hardware:
        for wl in s.workloads:
            if wl.kind == "trace":
                report = simulate(trace, hp.hardware)
                assert wl.path == str(trace)
            else:
                sp = wl.synthetic
                report = api.simulate_synthetic("digits-cnn", hp.hardware, dataset="digits",
                                                sparsity=sp["weight_sparsity"], batch=1, seed=0)
            rows = {(r["layer"], r["pass"]): r for r in
                    store.rows(trace_digest=wl.digest, hardware_digest=hp.digest)}
            assert len(rows) == sum(len(lr.passes) for lr in report.layers) + 3
            for lr in report.layers:
                for p, b in lr.passes.items():
                    want = stored(b)
                    assert {k: rows[(lr.geometry.name, p)][k] for k in want} == want
            totals = {r["pass"]: r for r in store.totals(trace_digest=wl.digest,
                                                          hardware_digest=hp.digest)}
            for name, b in report.totals().items():
                want = stored(b)
                assert {k: totals[name][k] for k in want} == pytest.approx(want)
            row = rows[(TOTAL, "forward")]
            assert row["backend.kind"] == hp.hardware.backend.kind
            assert row["frontend.lookahead"] == hp.hardware.frontend.lookahead
            assert row["model"] == "digits-cnn" and row["trace"] == wl.label


def test_resume_after_limit_recomputes_nothing(tmp_path):
    s = load_sweep(spec(grid={"frontend.lookahead": [0, 1, 2], "frontend.lookaside": [1, 3]}))
    assert s.size == 14   # 2 workloads x (6 designs + the reference)
    seen = []
    first = run_sweep(s, tmp_path / "r.sqlite", workers=1, progress=False, max_points=5,
                      on_point=seen.append)
    assert (first.computed, first.remaining) == (5, 9) and len(seen) == 5
    with open_store(tmp_path / "r.sqlite") as store:
        before = {(r["trace_digest"], r["hardware_digest"], r["layer"], r["pass"]):
                  r["finished_at"] for r in store.rows()}
    second = run_sweep(s, tmp_path / "r.sqlite", workers=1, progress=False,
                       on_point=seen.append)
    assert (second.already_done, second.computed) == (5, 9) and len(seen) == 14
    assert len({(r.trace_digest, r.hardware_digest) for r in seen}) == 14
    third = run_sweep(s, tmp_path / "r.sqlite", workers=1, progress=False)
    assert (third.already_done, third.computed) == (14, 0)
    full = run_sweep(s, tmp_path / "full.sqlite", workers=1, progress=False)
    assert full.computed == 14
    with open_store(tmp_path / "r.sqlite") as a, open_store(tmp_path / "full.sqlite") as b:
        rows = a.rows()
        assert all(before[k] == r["finished_at"] for r in rows
                   if (k := (r["trace_digest"], r["hardware_digest"], r["layer"], r["pass"]))
                   in before)
        assert _strip(rows) == _strip(b.rows())
    # a new pass on a finished point computes that pass only
    more = run_sweep(load_sweep({**spec(grid={"frontend.lookahead": [0]}), "passes":
                                 ["forward"]}), tmp_path / "fw.sqlite", workers=1,
                     progress=False)
    assert more.computed == 4   # 2 workloads x (1 design + the reference)
    again = run_sweep(load_sweep(spec(grid={"frontend.lookahead": [0]})),
                      tmp_path / "fw.sqlite", workers=1, progress=False)
    assert again.computed == 4
    run_sweep(load_sweep(spec(grid={"frontend.lookahead": [0]})), tmp_path / "fw-full.sqlite",
              workers=1, progress=False)
    with open_store(tmp_path / "fw.sqlite") as a, open_store(tmp_path / "fw-full.sqlite") as b:
        assert _strip(a.rows()) == _strip(b.rows())


def test_killed_sweep_resumes(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[grid]\n"frontend.lookahead" = {start = 0, stop = 5}\n'
                    '"frontend.lookaside" = [1, 2, 3, 4]\n[[workloads.synthetic]]\n'
                    'model = "resnet20"\ndataset = "cifar10"\nsparsity = [0.5, 0.7, 0.9]\n')
    total = 3 * (24 + 1)   # 3 workloads x (24 designs + the reference)
    store = tmp_path / "r.sqlite"
    cmd = [sys.executable, "-m", "accelsim", "sweep", str(path), "--out", str(store),
           "--workers", "1", "--quiet"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    done = 0
    while time.time() < deadline and proc.poll() is None:
        if store.exists():
            try:
                conn = sqlite3.connect(store, timeout=5)
                done = conn.execute("SELECT COUNT(*) FROM points").fetchone()[0]
                conn.close()
            except sqlite3.Error:
                done = 0
            if done >= 3:
                break
        time.sleep(0.05)
    assert proc.poll() is None, "the sweep ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)  # the CLI and any worker it started
    proc.wait()
    with open_store(store) as st:
        finished = {(p["trace_digest"], p["hardware_digest"]): p["finished_at"]
                    for p in st.points()}
        assert 3 <= len(finished) < total
        assert all(len(v) == 3 for v in st.done().values())
    result = run_sweep(path, store, workers=1, progress=False)
    assert result.already_done == len(finished) and result.computed == total - len(finished)
    with open_store(store) as st:
        assert {(p["trace_digest"], p["hardware_digest"]): p["finished_at"]
                for p in st.points() if (p["trace_digest"], p["hardware_digest"]) in finished
                } == finished
        layers = len(api.layer_table("resnet20", "cifar10"))
        assert st.count() == total * (3 * layers - 1 + 3)  # first layer: no backward_input
        assert sqlite3.connect(store).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_local_processes_and_dask_equal_inline(tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    s = load_sweep(spec())
    run_sweep(s, tmp_path / "inline.sqlite", workers=1, progress=False)
    ahead = []  # the local pool compiles its machines' kernels before its workers start
    monkeypatch.setattr(executors, "compile_ahead",
                        lambda calls, n, **kw: ahead.append((list(calls), kw))
                        or compile_ahead(calls, n, **kw))
    pool = run_sweep(s, tmp_path / "pool.sqlite", workers=2, progress=False)
    assert pool.executor == "2 local processes" and pool.computed == 6
    assert len(ahead) == 1 and ahead[0][0] and ahead[0][1] == {"always": True}
    assert {c.kernel.py_func.__module__ for c in ahead[0][0]} == {"accelsim.kernels.scheduler"}
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        by_address = run_sweep(s, tmp_path / "dask.sqlite", scheduler=cluster.scheduler_address,
                               progress=False)
        assert by_address.computed == 6 and by_address.executor.startswith("dask ")
        with distributed.Client(cluster) as client:
            again = run_sweep(s, tmp_path / "dask2.sqlite", scheduler=client, progress=False)
            assert again.computed == 6
    with open_store(tmp_path / "inline.sqlite") as a:
        want = _strip(a.rows())
    for name in ("pool", "dask", "dask2"):
        with open_store(tmp_path / f"{name}.sqlite") as b:
            assert _strip(b.rows()) == want, name


def test_cli_sweep_and_export(tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text('[grid]\n"frontend.lookahead" = [1, 2]\n[[workloads.synthetic]]\n'
                    'model = "digits-cnn"\ndataset = "digits"\n')
    out = tmp_path / "r.sqlite"
    code = main(["sweep", str(path), "--out", str(out), "--workers", "1", "--quiet",
                 "--export", str(tmp_path / "r.csv"), "--where", "pass=forward",
                 "--where", "frontend.lookahead=2", "--where", "frontend.kind=tcl"])
    stdout = capsys.readouterr().out
    assert code == 0 and "3 computed" in stdout and "wrote" in stdout   # + the reference
    lines = (tmp_path / "r.csv").read_text().splitlines()
    assert len(lines) == 1 + 4 + 1  # header, 4 layers with a forward pass, the total
    assert main(["sweep", str(path), "--out", str(out), "--quiet", "--json"]) == 0
    assert '"already_done": 3' in capsys.readouterr().out
    (tmp_path / "bad.toml").write_text('[grid]\n"frontend.lookahead" = [-1]\n'
                                       '[[workloads.synthetic]]\nmodel = "digits-cnn"\n')
    for argv in (["sweep", str(tmp_path / "bad.toml"), "--out", str(out)],
                 ["sweep", str(tmp_path / "none.toml"), "--out", str(out)],
                 ["sweep", "--out", str(tmp_path / "none.sqlite"), "--export", "x.csv"],
                 ["sweep", "--out", str(out)],
                 ["sweep", "--out", str(out), "--export", str(tmp_path / "x.xlsx")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("accelsim sweep: error: ") and err.count("\n") == 1, err
