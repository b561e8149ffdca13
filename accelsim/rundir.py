"""The layout of a training run directory, defined once, and its torch-free readers.

A run directory (``accelsim train --out DIR``) holds::

    config.json              the run's TrainConfig (a re-run with the same directory resumes)
    metrics.jsonl            one JSON record per finished epoch
    events.jsonl             what the sparsifier did: prune points, phases, thresholds
    summary.json             final accuracy and densities, written when the run ends
    checkpoints/last.pt      model, optimizer, LR schedule, sparsifier and RNG state
    traces/step-NNNNNNNN.trace   the recorded traces, by global optimizer step
    .lock                    held by the one training process writing the directory

The training loop writes it (``training/``); ``accelsim show-run``, the plots and the
report read it with :func:`read_run` and friends, which need only the standard library.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accelsim.errors import ConfigError

__all__ = ["CHECKPOINT", "CONFIG_NAME", "EVENTS_NAME", "LOCK_NAME", "METRICS_NAME",
           "SUMMARY_NAME", "TRACE_DIR", "TRACE_SUFFIX", "RunRecord", "is_run_dir",
           "read_config", "read_json", "read_jsonl", "read_run", "trace_files", "trace_name",
           "trace_step"]

CONFIG_NAME = "config.json"
METRICS_NAME = "metrics.jsonl"
EVENTS_NAME = "events.jsonl"
SUMMARY_NAME = "summary.json"
#: the checkpoint, relative to the run directory
CHECKPOINT = Path("checkpoints") / "last.pt"
TRACE_DIR = "traces"
#: file suffix of a trace (accelsim.trace.schema re-exports it)
TRACE_SUFFIX = ".trace"
LOCK_NAME = ".lock"
_TRACE_STEP = re.compile(r"step-(\d+)" + re.escape(TRACE_SUFFIX))


def trace_name(step: int) -> str:
    """File name of the trace of global optimizer step ``step``."""
    return f"step-{step:08d}{TRACE_SUFFIX}"


def trace_step(path: str | os.PathLike[str]) -> int | None:
    """The step of a trace named by :func:`trace_name` (None for another name)."""
    m = _TRACE_STEP.fullmatch(Path(path).name)
    return int(m.group(1)) if m else None


def trace_files(run_dir: str | os.PathLike[str]) -> list[Path]:
    """The run's trace files, by step (then by name for traces not named by step), unopened;
    :func:`accelsim.trace.scan_traces` opens and checks them."""
    d = Path(run_dir) / TRACE_DIR
    if not d.is_dir():
        return []
    found = d.glob(f"*{TRACE_SUFFIX}")
    return sorted(found, key=lambda p: (trace_step(p) is None, trace_step(p) or 0, p.name))


def is_run_dir(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a directory holding a config, metrics or traces."""
    p = Path(path)
    return p.is_dir() and any((p / n).exists() for n in (CONFIG_NAME, METRICS_NAME, TRACE_DIR))


def read_json(path: str | os.PathLike[str]) -> Any:
    """The JSON value of ``path``; a corrupt file raises ConfigError."""
    p = Path(path)
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{p} is not valid JSON ({exc.msg}, line {exc.lineno}); delete it or "
                          "re-run the training") from None


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The JSON objects of a JSON-lines file, one per non-empty line ([] when it does not
    exist).  A truncated last line (no newline after it, not valid JSON: the writer was
    interrupted) is left out; any other bad line raises ConfigError."""
    p = Path(path)
    if not p.exists():
        return []
    text = p.read_text()
    lines = text.splitlines()
    out: list[dict[str, Any]] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            if n == len(lines) and not text.endswith("\n"):
                break
            raise ConfigError(f"{p} line {n} is not valid JSON ({exc.msg}); delete the file or "
                              "re-run the training") from None
        if not isinstance(rec, dict):
            raise ConfigError(f"{p} line {n} is not a JSON object")
        out.append(rec)
    return out


def read_config(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The run's config as a dict; a directory without one is not a run directory."""
    d = Path(run_dir)
    path = d / CONFIG_NAME
    if not path.is_file():
        raise ConfigError(f"{d} is not a run directory (no {CONFIG_NAME}); give the --out of "
                          "an `accelsim train` run")
    config = read_json(path)
    if not isinstance(config, dict):
        raise ConfigError(f"{path} is not a JSON object; give the --out of an `accelsim "
                          "train` run")
    return config


@dataclass(frozen=True)
class RunRecord:
    """What a run directory holds, read without torch (the config as a plain dict)."""

    path: Path
    config: dict[str, Any]
    metrics: list[dict[str, Any]]
    events: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    traces: tuple[Path, ...] = ()

    @property
    def finished(self) -> bool:
        """True when every epoch of the config has its metrics."""
        return len(self.metrics) == self.config.get("epochs")

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (paths as strings)."""
        return {"run_dir": str(self.path), "config": self.config, "finished": self.finished,
                "metrics": self.metrics, "events": self.events, "summary": self.summary,
                "traces": [str(t) for t in self.traces]}


def read_run(run_dir: str | os.PathLike[str], *, need_config: bool = True) -> RunRecord:
    """Read a run directory: config, metrics, events, summary and traces.  Without
    ``need_config`` a directory without ``config.json`` gives an empty config."""
    d = Path(run_dir)
    if not need_config and not d.is_dir():
        raise ConfigError(f"run directory {d} does not exist; give the --out of `accelsim "
                          "train`")
    config = read_config(d) if need_config or (d / CONFIG_NAME).is_file() else {}
    summary_path = d / SUMMARY_NAME
    summary = read_json(summary_path) if summary_path.is_file() else {}
    return RunRecord(d, config, read_jsonl(d / METRICS_NAME), read_jsonl(d / EVENTS_NAME),
                     summary if isinstance(summary, dict) else {}, tuple(trace_files(d)))
