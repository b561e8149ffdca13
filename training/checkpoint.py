"""Writing a run directory (layout: :mod:`accelsim.rundir`): atomic JSON files, the lock,
checkpoints, and re-opening a run with its :class:`~training.config.TrainConfig`.

Checkpoints are taken at epoch ends and written atomically (temporary file, fsync,
rename) after the epoch's metrics and events: the checkpoint is what marks an epoch done, so a
process killed at any instant loses nothing.  An interrupted run that is started again
resumes from its last checkpoint, rewrites metrics.jsonl and events.jsonl from it (a line
written after the checkpoint is dropped, one missing is restored) and removes the temporary
files of interrupted writes.  :func:`start_fresh` empties a run directory (``--fresh``).
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from accelsim import rundir
from accelsim.errors import AccelsimError, ConfigError
from accelsim.fileio import atomic_write, remove_temp_files
from training.config import TrainConfig
from training.sparsifier import Sparsifier

#: what training writes into a run directory (the rest is not its to delete)
OWNED_FILES = (rundir.CONFIG_NAME, rundir.METRICS_NAME, rundir.EVENTS_NAME, rundir.SUMMARY_NAME,
               rundir.LOCK_NAME)
OWNED_DIRS = {str(rundir.CHECKPOINT.parent): (rundir.CHECKPOINT.name,),
              rundir.TRACE_DIR: ()}


def write_json(path: Path, obj: Any) -> None:
    """``obj`` as indented JSON, atomically."""
    atomic_write(path, (json.dumps(obj, indent=1, allow_nan=False) + "\n").encode())


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    """One JSON object per line, atomically."""
    atomic_write(path, "".join(json.dumps(r, allow_nan=False) + "\n"
                               for r in records).encode())


@contextlib.contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    """One training process per run directory (a second one fails at once)."""
    fh = open(run_dir / rundir.LOCK_NAME, "w")  # noqa: SIM115 - held for the whole run
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ConfigError(f"run directory {run_dir} is in use by another training "
                              "process; wait for it or choose another --out") from None
        yield
    finally:
        fh.close()


def load_checkpoint(run_dir: Path, config: TrainConfig, resume: bool) -> dict[str, Any] | None:
    """The checkpoint to resume ``config`` from (None: start afresh).  A directory that
    holds another run, or this run with ``resume=False``, raises ConfigError."""
    cfg_path = run_dir / rundir.CONFIG_NAME
    if not cfg_path.exists():
        return None
    try:
        old = TrainConfig.from_dict(rundir.read_json(cfg_path))
    except (OSError, AccelsimError) as exc:
        raise ConfigError(f"{cfg_path} is unreadable ({exc}); choose another --out") from None
    if old != config:
        diff = sorted(k for k, v in config.to_dict().items() if old.to_dict().get(k) != v)
        raise ConfigError(f"run directory {run_dir} holds another run (differs in "
                          f"{', '.join(diff)}); repeat its options to resume it, add --fresh "
                          "to start over there, or choose another --out")
    if not resume:
        raise ConfigError(f"run directory {run_dir} already holds this run; resume it, add "
                          "--fresh to start over, or choose another --out")
    ckpt = run_dir / rundir.CHECKPOINT
    if not ckpt.exists():
        return None
    try:
        return torch.load(ckpt, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means the same thing
        raise ConfigError(f"checkpoint {ckpt} is unreadable ({type(exc).__name__}); add "
                          "--fresh to start the run over") from None


def _foreign(run_dir: Path) -> list[str]:
    """What ``run_dir`` holds that training did not write (temporary files of interrupted
    writes are training's)."""
    def ours(p: Path, names: tuple[str, ...], suffix: str = "") -> bool:
        return p.name in names or (suffix != "" and p.suffix == suffix) or (
            p.name.startswith(".") and (".tmp" in p.name))
    out = []
    for p in sorted(run_dir.iterdir()):
        if p.is_dir() and not p.is_symlink() and p.name in OWNED_DIRS:
            suffix = rundir.TRACE_SUFFIX if p.name == rundir.TRACE_DIR else ""
            out += [str(q.relative_to(run_dir)) for q in sorted(p.iterdir())
                    if not q.is_file() or not ours(q, OWNED_DIRS[p.name], suffix)]
        elif not (p.is_file() and ours(p, OWNED_FILES)):
            out.append(p.name)
    return out


def start_fresh(run_dir: Path) -> None:
    """Delete what training wrote into ``run_dir`` (config, metrics, events, summary,
    checkpoints, traces, temporary files; the lock file is kept: the caller holds it), so
    that the run starts over.  A directory holding anything else is refused, naming it."""
    if not run_dir.is_dir():
        return
    foreign = _foreign(run_dir)
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5
                                          else "")
        raise ConfigError(f"--fresh: {run_dir} is not only a run directory: it holds {shown}, "
                          "which training did not write; move them away or choose another --out")
    for name in OWNED_DIRS:
        d = run_dir / name
        if d.is_dir():
            for q in d.iterdir():
                q.unlink()
            d.rmdir()
    for p in run_dir.iterdir():
        if p.name != rundir.LOCK_NAME:
            p.unlink()


def tidy(run_dir: Path) -> list[Path]:
    """Remove the temporary files of writes a kill interrupted (run directory, traces,
    checkpoints).  -> what was removed."""
    return remove_temp_files(run_dir, run_dir / rundir.TRACE_DIR, run_dir / rundir.CHECKPOINT.parent)


def save_checkpoint(run_dir: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    sparsifier: Sparsifier, epoch: int, step: int,
                    metrics: list, events: list) -> None:
    """Model, optimizer, sparsifier and RNG state after ``epoch`` (global ``step``); written
    after the epoch's metrics and events (it marks the epoch done)."""
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "sparsifier": sparsifier.state_dict(),
                "rng": torch.get_rng_state(), "epoch": epoch, "step": step,
                "metrics": metrics, "events": events}, buf)
    atomic_write(run_dir / rundir.CHECKPOINT, buf.getvalue())


@dataclass
class RunResult:
    """What :func:`training.loop.train` returns: the run directory and its records."""

    run_dir: Path
    config: TrainConfig
    metrics: list[dict[str, Any]]
    events: list[dict[str, Any]]
    traces: list[Path]
    model: nn.Module | None = None
    finished: bool = True

    @property
    def final(self) -> dict[str, Any]:
        return self.metrics[-1] if self.metrics else {}


def open_run(run_dir: str | os.PathLike[str]) -> RunResult:
    """Re-open a run directory: its config, metrics, events and traces (no model)."""
    record = rundir.read_run(run_dir)
    config = TrainConfig.from_dict(record.config)
    return RunResult(record.path, config, record.metrics, record.events, list(record.traces),
                     model=None, finished=record.finished)
