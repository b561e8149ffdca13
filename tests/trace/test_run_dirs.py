"""Paths and run directories (issue 17): a damaged trace never blocks the healthy ones,
and a path that is no trace (missing, FIFO, socket, directory, unreadable) is a one-line
error naming it and what it is."""

from __future__ import annotations

import os
import socket
import zipfile

import pytest

from accelsim import api
from accelsim.errors import TraceError
from accelsim.trace import check_trace, find_trace, list_traces, open_trace, scan_traces
from tests.trace import mutants

ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture
def run_dir(tmp_path):
    """traces/step-5 and step-9 healthy, step-12 (the latest) truncated."""
    d = tmp_path / "run"
    (d / "traces").mkdir(parents=True)
    for step in (5, 9, 12):
        mutants.write_original(d / "traces" / f"step-{step:08d}.trace", step=step)
    bad = d / "traces" / "step-00000012.trace"
    bad.write_bytes(bad.read_bytes()[:300])
    return d


def test_scan_marks_the_damaged_trace(run_dir):
    listings = scan_traces(run_dir)
    assert [(t.path.name, t.step, t.ok) for t in listings] == [
        ("step-00000005.trace", 5, True), ("step-00000009.trace", 9, True),
        ("step-00000012.trace", None, False)]
    assert listings[2].order_step == 12
    assert "step-00000012.trace is truncated" in listings[2].problem


def test_step_reaches_healthy_traces(run_dir):
    assert find_trace(run_dir, step=5).name == "step-00000005.trace"
    assert api.inspect_trace(run_dir, step=9)["metadata"]["step"] == 9
    assert check_trace(run_dir, step=9, deep=True).ok


def test_latest_damaged_names_it_and_the_latest_healthy_step(run_dir):
    for call in (lambda: find_trace(run_dir), lambda: api.inspect_trace(run_dir)):
        with pytest.raises(TraceError, match=r"the latest trace of run directory .*run, "
                                             r"step-00000012\.trace, is damaged: .*truncated.*; "
                                             r"pass --step 9"):
            call()
    with pytest.raises(TraceError, match=r"the trace of step 12 in run directory .* is damaged"):
        find_trace(run_dir, step=12)
    with pytest.raises(TraceError, match=r"no trace of step 7; it has steps 5, 9 \(1 damaged"):
        find_trace(run_dir, step=7)


def test_list_traces_refuses_to_drop_a_damaged_trace(run_dir):
    with pytest.raises(TraceError, match=r"1 of 3 traces are damaged \(healthy steps: 5, 9\); "
                                         r"first: .*step-00000012\.trace"):
        list_traces(run_dir)


def test_older_damaged_trace_does_not_block_the_latest(run_dir):
    (run_dir / "traces" / "step-00000012.trace").unlink()
    (run_dir / "traces" / "step-00000001.trace").write_bytes(b"junk")
    assert find_trace(run_dir).name == "step-00000009.trace"


def test_damaged_trace_of_unknown_step_blocks_only_the_default(run_dir):
    (run_dir / "traces" / "step-00000012.trace").unlink()
    (run_dir / "notes.trace").write_bytes(b"junk")
    with pytest.raises(TraceError, match=r"notes\.trace, is damaged.*pass --step 9"):
        find_trace(run_dir)
    assert find_trace(run_dir, step=9).name == "step-00000009.trace"


def test_fifo_socket_and_directory_named_trace_are_marked(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    os.mkfifo(run / "a.trace")
    (run / "b.trace").mkdir()
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(run / "c.trace"))
        problems = {t.path.name: t.problem for t in scan_traces(run)}
    finally:
        sock.close()
    assert problems == {"a.trace": f"{run / 'a.trace'} is a FIFO (named pipe), not a trace file",
                        "b.trace": f"{run / 'b.trace'} is a directory, not a trace file",
                        "c.trace": f"{run / 'c.trace'} is a socket, not a trace file"}
    mutants.write_original(run / "d.trace")
    assert find_trace(run).name == "d.trace"  # things that are no trace file do not block


@pytest.mark.parametrize("call", [open_trace, find_trace, api.inspect_trace, check_trace])
def test_fifo_as_the_path(tmp_path, call):
    fifo = tmp_path / "x.trace"
    os.mkfifo(fifo)
    with pytest.raises(TraceError, match=r"x\.trace is a FIFO \(named pipe\)"):
        call(fifo)


def test_only_a_fifo_in_the_run_dir(tmp_path):
    os.mkfifo(tmp_path / "x.trace")
    with pytest.raises(TraceError, match=r"holds no trace file, only 1 other thing\(s\) named "
                                         r"\*\.trace: .*x\.trace is a FIFO"):
        find_trace(tmp_path)


def test_directory_named_trace_without_traces(tmp_path):
    (tmp_path / "y.trace").mkdir()
    with pytest.raises(TraceError, match=r"y\.trace is a directory, not a trace file, and holds "
                                         r"no \.trace files"):
        find_trace(tmp_path / "y.trace")
    with pytest.raises(TraceError, match=r"y\.trace is a directory; use find_trace"):
        open_trace(tmp_path / "y.trace")


def test_missing_and_broken_link(tmp_path):
    with pytest.raises(TraceError, match=r"nope\.trace does not exist"):
        find_trace(tmp_path / "nope.trace")
    (tmp_path / "l.trace").symlink_to(tmp_path / "gone.trace")
    with pytest.raises(TraceError, match=r"l\.trace is a broken symbolic link \(to .*gone\.trace"):
        open_trace(tmp_path / "l.trace")


def test_permission_denied_file(tmp_path, monkeypatch):
    path = mutants.write_original(tmp_path / "p.trace")
    if ROOT:  # root reads any file: make the open fail as it would for a user

        def denied(*args, **kwargs):
            raise PermissionError(13, "Permission denied")
        monkeypatch.setattr(zipfile, "ZipFile", denied)
    else:
        path.chmod(0)
    with pytest.raises(TraceError, match=r"trace .*p\.trace: permission denied"):
        open_trace(path)
    listing = scan_traces(tmp_path)[0]
    assert not listing.ok and "permission denied" in listing.problem


@pytest.mark.skipif(ROOT, reason="root lists any directory")
def test_permission_denied_run_dir(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    run.chmod(0)
    try:
        with pytest.raises(TraceError, match=r"run directory .*run: permission denied"):
            find_trace(run)
    finally:
        run.chmod(0o755)


def test_empty_run_dir_message(tmp_path):
    with pytest.raises(TraceError, match=r"run directory .* holds no \.trace files"):
        find_trace(tmp_path)
