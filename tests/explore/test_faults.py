"""Sweeps under faults: the parent killed by any signal leaves no worker; concurrent sweeps
on one store claim points (none computed twice; a dead owner's points are taken over); a
store or an export that cannot be written is a one-line error."""

from __future__ import annotations

import errno
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from accelsim.cli import main
from accelsim.explore import claims as claims_mod
from accelsim.explore.claims import Claims, Feed
from accelsim.explore.load import load_sweep
from accelsim.explore.run import plan, run_sweep
from accelsim.explore.sql import StoreError
from accelsim.explore.store import open_store
from accelsim.fileio import WriteError

REPO = Path(__file__).resolve().parents[2]
SLOW_SPEC = ('[grid]\n"frontend.lookahead" = {{start = 0, stop = {stop}}}\n'
             '"frontend.lookaside" = [1, 2]\n[[workloads.synthetic]]\n'
             'model = "resnet20"\ndataset = "cifar10"\nsparsity = [0.5, 0.9]\n')
SMALL = {"grid": {"frontend.lookahead": [1, 2]},
         "workloads": {"synthetic": [{"model": "digits-cnn", "dataset": "digits",
                                      "sparsity": [0.8, 0.9]}]}}


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def _children(pid: int) -> list[int]:
    """Live (not zombie) processes whose parent is ``pid``."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(d.name))
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT],
                         ids=["SIGKILL", "SIGTERM", "SIGINT"])
def test_killing_the_parent_leaves_no_worker(tmp_path, sig):
    spec = tmp_path / "s.toml"
    spec.write_text(SLOW_SPEC.format(stop=9))
    proc = subprocess.Popen([sys.executable, "-m", "accelsim", "sweep", str(spec), "--out",
                             str(tmp_path / "r.sqlite"), "--workers", "2", "--quiet"],
                            env=_env(), start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        workers: list[int] = []
        while time.time() < deadline and proc.poll() is None and len(workers) < 2:
            workers = [p for p in _children(proc.pid)
                       if b"multiprocessing" in Path(f"/proc/{p}/cmdline").read_bytes()]
            time.sleep(0.1)
        assert proc.poll() is None and len(workers) >= 2, "no workers to orphan"
        time.sleep(1.0)                                  # the workers are computing
        others = _children(proc.pid)
        os.kill(proc.pid, sig)
        proc.wait(timeout=30)
        deadline = time.time() + 10
        while time.time() < deadline and any(_alive(p) for p in others):
            time.sleep(0.1)
        assert not [p for p in others if _alive(p)], f"orphans after {sig.name}"
    finally:
        with __import__("contextlib").suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def test_two_concurrent_sweeps_compute_every_point_once(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text(SLOW_SPEC.format(stop=3))
    total = 2 * (4 * 2 + 1)   # 2 workloads x (8 designs + the reference)
    store = tmp_path / "r.sqlite"
    cmd = [sys.executable, "-m", "accelsim", "sweep", str(spec), "--out", str(store),
           "--workers", "1", "--quiet", "--json"]
    procs = [subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(2)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()
        results.append(json.loads(out))
    assert sum(r["computed"] for r in results) == total          # none computed twice
    for r in results:
        assert r["already_done"] + r["computed"] + r["by_others"] == total
    with open_store(store) as st:
        assert len(st.points()) == total and all(len(v) == 3 for v in st.done().values())
        assert not st._conn.execute("SELECT * FROM claims").fetchall()   # all released


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("owner, taken", [
    ("dead", True),           # a sweep that was killed: its point is taken over
    ("expired", True),        # a lease that ran out (an owner on another host, silent)
    ("live", False),          # another live sweep of this host: wait for it
    ("live-other-host", False),
])
def test_a_claimed_point_is_taken_over_only_from_a_dead_owner(tmp_path, owner, taken):
    spec = load_sweep(SMALL)
    with open_store(tmp_path / "r.sqlite") as st:
        tasks = plan(spec, st.done())
        first = tasks[0]
        key = (first.workload.digest, first.hardware.digest())
        mine = Claims(st)
        host, pid, expires = {
            "dead": (mine.host, _dead_pid(), time.time() + 60),
            "expired": ("elsewhere", 1, time.time() - 1),
            "live": (mine.host, os.getppid(), time.time() + 60),
            "live-other-host": ("elsewhere", 1, time.time() + 60)}[owner]
        with st.transaction() as conn:
            conn.execute("INSERT INTO claims VALUES (?, ?, ?, ?, ?, ?)",
                         (*key, f"{host}:{pid}:x", host, pid, expires))
        feed = Feed(mine, tasks, poll_s=60)
        got = []
        while (t := feed.next()) is not None:
            got.append(t)
        assert (first in got) is taken and feed.waiting is (not taken)
        assert len(got) == len(tasks) - (0 if taken else 1)


def test_a_waiting_sweep_counts_points_finished_by_the_owner(tmp_path):
    spec = load_sweep(SMALL)
    store = tmp_path / "r.sqlite"
    with open_store(store) as a_store, open_store(store) as b_store:
        a, b = Claims(a_store), Claims(b_store)
        tasks = plan(spec, a_store.done())
        feed_a = Feed(a, tasks[:1])
        held = feed_a.next()
        assert held is not None
        feed_b = Feed(b, tasks, poll_s=0.0)
        got = [feed_b.next() for _ in range(len(tasks) - 1)]
        assert held not in got and feed_b.next() is None and feed_b.waiting
        from accelsim.explore.executors import simulate_point
        a_store.write_point(simulate_point(held))
        a.release(held)
        assert feed_b.next() is None and not feed_b.waiting and feed_b.by_others == 1


def test_a_partly_done_point_is_claimed_for_its_missing_passes(tmp_path):
    spec = load_sweep({**SMALL, "passes": ["forward"]})
    full = load_sweep(SMALL)
    store = tmp_path / "r.sqlite"
    run_sweep(spec, store, workers=1, progress=False)
    with open_store(store) as st:
        tasks = plan(full, {})              # a plan made before the forward passes were in
        _, narrowed = Claims(st).claim(tasks[0])
        assert narrowed.passes == ("backward_input", "backward_weight")


class _Full:
    """A connection whose writes fail as on a full disk."""

    def __init__(self, conn):
        self._conn = conn

    def execute(self, sql, *args):
        if sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            raise sqlite3.OperationalError("database or disk is full")
        return self._conn.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._conn, name)


def test_a_full_store_is_a_one_line_error(tmp_path, monkeypatch):
    store = tmp_path / "r.sqlite"
    real = open_store

    def full(path, **kw):
        st = real(path, **kw)
        st._conn = _Full(st._conn)
        return st
    monkeypatch.setattr("accelsim.explore.run.open_store", full)
    with pytest.raises(StoreError, match=f"results store {store} cannot be written .*full"):
        run_sweep(load_sweep(SMALL), store, workers=1, progress=False)


def _fail(code):
    def fail(*args, **kwargs):     # as the system call fails: naming its paths
        names = [os.fspath(a) for a in args[:2] if isinstance(a, str | os.PathLike)]
        raise OSError(code, os.strerror(code), *names[:1], None, *names[1:2])
    return fail


@pytest.mark.parametrize("case, words", [
    ("export-is-a-directory", "is a directory"),
    ("disk-full", "no space left on device"),
    ("read-only", "read-only file system"),
    ("permission-denied", "permission denied"),
    ("store-is-a-directory", "is a directory"),
    ("store-parent-is-a-file", "is a file, not a directory"),
])
def test_store_and_export_write_faults_are_one_line(tmp_path, monkeypatch, capsys, case, words):
    store = tmp_path / "r.sqlite"
    run_sweep(load_sweep(SMALL), store, workers=1, progress=False)
    out = tmp_path / "rows.csv"
    out.write_text("previous\n")
    argv = ["sweep", "--out", str(store), "--export", str(out)]
    if case == "export-is-a-directory":
        out.unlink()
        out.mkdir()
    elif case.startswith("store-"):
        spec = tmp_path / "s.toml"
        spec.write_text('[grid]\n"frontend.lookahead" = [1]\n[[workloads.synthetic]]\n'
                        'model = "digits-cnn"\ndataset = "digits"\nsparsity = 0.5\n')
        target = tmp_path if case == "store-is-a-directory" else out / "r.sqlite"
        argv = ["sweep", str(spec), "--out", str(target)]
    else:
        code = {"disk-full": errno.ENOSPC, "read-only": errno.EROFS,
                "permission-denied": errno.EACCES}[case]
        monkeypatch.setattr(os, "replace", _fail(code))
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1 and words in err, err
    assert "Traceback" not in err and ".tmp" not in err
    if out.is_file():
        assert out.read_text() == "previous\n"                  # left as it was
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


def test_write_error_is_what_an_unwritable_export_raises(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "replace", _fail(errno.EROFS))
    store = tmp_path / "r.sqlite"
    run_sweep(load_sweep(SMALL), store, workers=1, progress=False)
    with pytest.raises(WriteError, match=f"cannot write {tmp_path / 'a.csv'}: read-only"):
        open_store(store).export(tmp_path / "a.csv")
    assert claims_mod.pid_alive(os.getpid()) and not claims_mod.pid_alive(_dead_pid())
