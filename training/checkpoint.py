"""Writing a run directory (layout: :mod:`accelsim.rundir`): atomic JSON files, the lock,
checkpoints, and re-opening a run with its :class:`~training.config.TrainConfig`.

Checkpoints are taken at epoch ends and written atomically (temporary file, fsync,
rename); an interrupted run that is started again resumes from its last checkpoint.
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
from training.config import TrainConfig
from training.sparsifier import Sparsifier


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file, fsynced and renamed."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


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
                          f"{', '.join(diff)}); choose another --out or repeat its options")
    if not resume:
        raise ConfigError(f"run directory {run_dir} already holds this run; resume it or "
                          "choose another --out")
    ckpt = run_dir / rundir.CHECKPOINT
    if not ckpt.exists():
        return None
    try:
        return torch.load(ckpt, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means the same thing
        raise ConfigError(f"checkpoint {ckpt} is unreadable ({type(exc).__name__}); delete it "
                          "to restart the run from scratch") from None


def save_checkpoint(run_dir: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    sparsifier: Sparsifier, epoch: int, step: int,
                    metrics: list, events: list) -> None:
    """Model, optimizer, sparsifier and RNG state after ``epoch`` (global ``step``)."""
    (run_dir / rundir.CHECKPOINT).parent.mkdir(parents=True, exist_ok=True)
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
