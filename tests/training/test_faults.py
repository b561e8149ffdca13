"""Training under faults, one table per kind: a kill between an epoch's writes, leftovers of
interrupted writes, a diverging loss, starting over with --fresh, a run directory that
cannot be written."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from accelsim.cli import main
from accelsim.errors import AccelsimError, ConfigError
from accelsim.rundir import CHECKPOINT, read_jsonl, trace_name
from training import loop
from training.checkpoint import open_run
from training.config import TrainConfig
from training.loop import train

QUICK = {"method": "swat-u", "sparsity": 0.8, "epochs": 3, "batch_size": 32,
         "max_steps_per_epoch": 3, "trace_every": 4, "trace_samples": 2}


class Killed(BaseException):
    """Stands for a SIGKILL: nothing after it runs (not even ``except Exception``)."""


def _lines(path: Path) -> list[dict]:
    """The records of a JSON-lines file without their wall-clock field."""
    return [{k: v for k, v in r.items() if k != "seconds"} for r in read_jsonl(path)]


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> Path:
    """An uninterrupted run of :data:`QUICK`."""
    out = tmp_path_factory.mktemp("straight")
    train(TrainConfig(**QUICK), out, progress=False, log=None)
    return out


@pytest.mark.parametrize("kill_at_epoch", [1, 2], ids=["middle-epoch", "last-epoch"])
def test_a_kill_between_an_epochs_writes_loses_nothing(tmp_path, monkeypatch, straight,
                                                       kill_at_epoch):
    """Metrics and events written, the process dies before the checkpoint: the re-run
    repeats that epoch and ends with the uninterrupted run's metrics and events."""
    real = loop.save_checkpoint

    def dies(run_dir, model, optimizer, sparsifier, epoch, *rest):
        if epoch == kill_at_epoch:
            raise Killed
        return real(run_dir, model, optimizer, sparsifier, epoch, *rest)
    monkeypatch.setattr(loop, "save_checkpoint", dies)
    with pytest.raises(Killed):
        train(TrainConfig(**QUICK), tmp_path, progress=False, log=None)
    monkeypatch.setattr(loop, "save_checkpoint", real)
    assert len(read_jsonl(tmp_path / "metrics.jsonl")) == kill_at_epoch + 1
    result = train(TrainConfig(**QUICK), tmp_path, progress=False, log=None)
    assert len(result.metrics) == QUICK["epochs"] and open_run(tmp_path).finished
    assert _lines(tmp_path / "metrics.jsonl") == _lines(straight / "metrics.jsonl")
    assert (tmp_path / "events.jsonl").read_bytes() == (straight / "events.jsonl").read_bytes()
    assert ([p.name for p in (tmp_path / "traces").iterdir()]
            == [p.name for p in (straight / "traces").iterdir()])


@pytest.mark.parametrize("damage", ["line-missing", "line-extra", "file-missing", "torn-line"])
def test_a_resume_makes_the_records_agree_with_the_checkpoint(tmp_path, straight, damage):
    """Whatever state a kill (or an older accelsim, which wrote the checkpoint first) left
    metrics.jsonl in, re-running a finished run restores it from the checkpoint."""
    for p in straight.rglob("*"):
        if p.is_file():
            (tmp_path / p.relative_to(straight)).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / p.relative_to(straight)).write_bytes(p.read_bytes())
    metrics = tmp_path / "metrics.jsonl"
    lines = metrics.read_text().splitlines(keepends=True)
    if damage == "line-missing":
        metrics.write_text("".join(lines[:-1]))
    elif damage == "line-extra":
        metrics.write_text("".join(lines) + lines[-1])
    elif damage == "file-missing":
        metrics.unlink()
    else:
        metrics.write_text("".join(lines[:-1]) + lines[-1][:20])
    train(TrainConfig(**QUICK), tmp_path, progress=False, log=None)
    assert metrics.read_bytes() == (straight / "metrics.jsonl").read_bytes()


def test_a_resume_removes_the_leftovers_of_interrupted_writes(tmp_path, straight):
    for p in straight.rglob("*"):
        if p.is_file():
            (tmp_path / p.relative_to(straight)).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / p.relative_to(straight)).write_bytes(p.read_bytes())
    stale = [tmp_path / ".metrics.jsonl.tmp-4242", tmp_path / ".config.json.77.ab12cd34.tmp",
             tmp_path / "traces" / ".step-00000004.trace.tmp-4242-deadbeef",
             tmp_path / CHECKPOINT.parent / ".last.pt.tmp-4242",
             tmp_path / CHECKPOINT.parent / ".last.pt.4242.0badf00d.tmp"]
    for p in stale:
        p.write_bytes(b"half")
    train(TrainConfig(**QUICK), tmp_path, progress=False, log=None)
    assert not [p for p in stale if p.exists()]
    assert (tmp_path / "metrics.jsonl").read_bytes() == (straight / "metrics.jsonl").read_bytes()


def test_divergence_stops_with_one_line_and_the_run_can_start_over(tmp_path):
    diverging = TrainConfig(**{**QUICK, "lr": 1e12, "lr_schedule": "constant"})
    with pytest.raises(ConfigError) as exc:
        train(diverging, tmp_path, progress=False, log=None)
    message = str(exc.value)
    assert "diverged" in message and "epoch 1, step" in message
    assert "lower --lr" in message and "--fresh" in message and "\n" not in message
    step = int(message.split("step ")[1].split()[0])
    assert not (tmp_path / "traces" / trace_name(step)).exists()   # its trace was dropped
    with pytest.raises(ConfigError, match="--fresh"):      # other options, same directory
        train(TrainConfig(**QUICK), tmp_path, progress=False, log=None)
    result = train(TrainConfig(**QUICK), tmp_path, progress=False, log=None, fresh=True)
    assert open_run(tmp_path).finished and len(result.metrics) == QUICK["epochs"]


@pytest.mark.parametrize("extra, named", [
    ("notes.txt", "notes.txt"),
    ("traces/keep.me", "traces/keep.me"),
    ("checkpoints/best.pt", "checkpoints/best.pt"),
], ids=["file", "file-in-traces", "file-in-checkpoints"])
def test_fresh_refuses_a_directory_with_other_files(tmp_path, straight, extra, named):
    for p in straight.rglob("*"):
        if p.is_file():
            (tmp_path / p.relative_to(straight)).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / p.relative_to(straight)).write_bytes(p.read_bytes())
    (tmp_path / extra).write_text("mine")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(ConfigError, match=f"--fresh: .*{named}"):
        train(TrainConfig(**QUICK), tmp_path, progress=False, log=None, fresh=True)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_fresh_on_the_command_line_starts_over(tmp_path, capsys):
    args = ["train", "--epochs", "1", "--max-steps-per-epoch", "2", "--quiet", "--out",
            str(tmp_path)]
    assert main([*args, "--json"]) == 0
    assert main([*args, "--lr", "0.01"]) == 2
    assert "--fresh" in capsys.readouterr().err
    assert main([*args, "--lr", "0.01", "--fresh", "--json"]) == 0
    assert json.loads((tmp_path / "config.json").read_text())["lr"] == 0.01


def _fail(errno_: int):
    def fail(*args, **kwargs):
        raise OSError(errno_, os.strerror(errno_))
    return fail


@pytest.mark.parametrize("case, words", [
    ("out-is-a-file", "is a file, not a directory"),
    ("parent-is-a-file", "is a file, not a directory"),
    ("disk-full", "no space left on device"),
    ("read-only", "read-only file system"),
    ("permission-denied", "permission denied"),
])
def test_a_run_directory_that_cannot_be_written_is_one_line(tmp_path, monkeypatch, capsys,
                                                            case, words):
    out = tmp_path / "run"
    if case == "out-is-a-file":
        out.write_text("x")
    elif case == "parent-is-a-file":
        (tmp_path / "p").write_text("x")
        out = tmp_path / "p" / "run"
    else:
        out.mkdir()
        code = {"disk-full": errno.ENOSPC, "read-only": errno.EROFS,
                "permission-denied": errno.EACCES}[case]
        monkeypatch.setattr(os, "fsync", _fail(code))       # every atomic write fsyncs
    code = main(["train", "--epochs", "1", "--max-steps-per-epoch", "1", "--quiet", "--out",
                 str(out)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1 and words in err and str(out) in err
    assert "Traceback" not in err and ".tmp" not in err
    if out.is_dir():
        assert not [p for p in out.rglob("*") if ".tmp" in p.name]


def test_write_errors_are_accelsim_errors():
    from accelsim.fileio import WriteError
    assert issubclass(WriteError, AccelsimError)
