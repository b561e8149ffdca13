"""Training run directories for the figures and the report, read without torch through
:mod:`accelsim.rundir` (the one definition of the layout)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accelsim import rundir
from accelsim.errors import ConfigError
from plots.data import PlotError

__all__ = ["RunData", "load_run"]


@dataclass(frozen=True)
class RunData:
    """A training run directory: config, per-epoch metrics, summary, trace files."""

    path: Path
    config: dict[str, Any]
    metrics: list[dict[str, Any]]
    summary: dict[str, Any] = field(default_factory=dict)
    traces: tuple[Path, ...] = ()


def load_run(run_dir: str | os.PathLike[str], *, need_metrics: bool = True) -> RunData:
    """Read a run directory (:func:`accelsim.rundir.read_run`; a directory holding only
    ``*.trace`` files is read as a run without metrics).  With ``need_metrics`` a missing
    or empty ``metrics.jsonl`` is an error."""
    d = Path(run_dir)
    try:
        run = rundir.read_run(d, need_config=False)
    except ConfigError as exc:
        raise PlotError(str(exc)) from None
    if need_metrics and not run.metrics:
        mpath = d / rundir.METRICS_NAME
        raise PlotError(f"run directory {d} has no epoch metrics ({mpath.name} is "
                        f"{'empty' if mpath.is_file() else 'missing'}); train at least one epoch")
    traces = run.traces or tuple(sorted(d.glob(f"*{rundir.TRACE_SUFFIX}")))
    return RunData(d, run.config, run.metrics, run.summary, traces)
