"""Traces of a run directory: listing that marks damaged traces, and resolving a path (a
trace file or a run directory, latest step or ``step=N``) to one trace file.

A damaged trace never blocks the others: :func:`scan_traces` lists it with its problem,
and :func:`find_trace` reaches every healthy trace by step.  The default (the latest
trace) refuses to skip silently over a damaged trace that may be the latest: it names it
and the latest healthy step to pass instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from accelsim.errors import TraceError
from accelsim.rundir import TRACE_DIR, trace_step
from accelsim.trace.container import path_kind
from accelsim.trace.reader import TraceCheck, open_trace
from accelsim.trace.schema import TRACE_SUFFIX


@dataclass(frozen=True)
class TraceListing:
    """One ``*.trace`` entry of a run directory.  ``step`` is the recorded step (``None``
    when the trace is damaged); ``problem`` is a one-line description of the damage;
    ``is_file`` is false for a directory, FIFO, socket ... named ``*.trace``."""

    path: Path
    step: int | None
    problem: str | None = None
    is_file: bool = True

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def order_step(self) -> int | None:
        """The step to order by: the recorded one, else the one in a ``step-N.trace``
        name (as training writes them), else ``None`` (unknown)."""
        if self.step is not None:
            return self.step
        return trace_step(self.path)


def _entries(directory: Path) -> list[Path]:
    try:
        names = os.listdir(directory)
    except PermissionError:
        raise TraceError(f"run directory {directory}: permission denied; check its "
                         "permissions") from None
    except OSError as exc:
        raise TraceError(f"run directory {directory} cannot be listed ({exc.strerror})") from None
    return [directory / n for n in names if n.endswith(TRACE_SUFFIX)]


def _listing(path: Path) -> TraceListing:
    try:
        kind = path_kind(path)
        if kind != "file":
            return TraceListing(path, None, f"{path} is {kind}, not a trace file", False)
        with open_trace(path) as trace:
            return TraceListing(path, trace.metadata.step)
    except TraceError as exc:
        return TraceListing(path, None, str(exc))


def scan_traces(run_dir: str | os.PathLike[str]) -> list[TraceListing]:
    """Every ``*.trace`` entry of a run directory (top level and ``traces/``), each opened
    and its manifest checked; damaged ones (and directories, FIFOs ... named ``*.trace``)
    are listed with their problem.  Sorted by step; unknown steps last."""
    d = Path(run_dir)
    kind = path_kind(d, "run directory")
    if kind != "a directory":
        raise TraceError(f"run directory {d} is {'a file' if kind == 'file' else kind}, not "
                         "a directory")
    paths = _entries(d)
    sub = d / TRACE_DIR
    if os.path.isdir(sub):
        paths += _entries(sub)
    listings = [_listing(p) for p in sorted(set(paths))]
    return sorted(listings, key=lambda t: (t.order_step is None, t.order_step or 0, str(t.path)))


def list_traces(run_dir: str | os.PathLike[str]) -> list[tuple[int, Path]]:
    """``(step, path)`` of every trace in a run directory, sorted by step.  A damaged
    trace raises (naming it) rather than silently shrinking the list; use
    :func:`scan_traces` to list around it."""
    listings = scan_traces(run_dir)
    bad = [t for t in listings if not t.ok]
    if bad:
        healthy = ", ".join(str(t.step) for t in listings if t.ok) or "none"
        raise TraceError(f"run directory {run_dir}: {len(bad)} of {len(listings)} traces are "
                         f"damaged (healthy steps: {healthy}); first: {bad[0].problem}")
    return [(t.step, t.path) for t in listings if t.step is not None]


def _no_traces(d: Path) -> TraceError:
    named = f"{d} is a directory, not a trace file, and " if d.name.endswith(TRACE_SUFFIX) else \
        f"run directory {d} "
    return TraceError(f"{named}holds no {TRACE_SUFFIX} files (looked in {d} and "
                      f"{d / TRACE_DIR}); record traces with --trace-every or make a synthetic one")


def _latest(d: Path, listings: list[TraceListing]) -> Path:
    healthy = [t for t in listings if t.ok]
    newest = max((t.step for t in healthy), default=None)
    blocking = [t for t in listings if not t.ok and t.is_file and (
        newest is None or t.order_step is None or t.order_step >= newest)]
    if blocking:
        hint = (f"pass --step {newest} for the latest healthy trace"
                if newest is not None else "the run directory holds no healthy trace")
        raise TraceError(f"the latest trace of run directory {d}, {blocking[-1].path.name}, is "
                         f"damaged: {blocking[-1].problem}; {hint}")
    if newest is None:
        raise TraceError(f"run directory {d} holds no trace file, only {len(listings)} other "
                         f"thing(s) named *{TRACE_SUFFIX}: {listings[0].problem}")
    return [t for t in healthy if t.step == newest][-1].path


def _by_step(d: Path, listings: list[TraceListing], step: int) -> Path:
    for t in listings:
        if t.ok and t.step == step:
            return t.path
    for t in listings:
        if not t.ok and t.is_file and t.order_step == step:
            raise TraceError(f"the trace of step {step} in run directory {d} is damaged: "
                             f"{t.problem}")
    steps = ", ".join(str(t.step) for t in listings if t.ok) or "none healthy"
    damaged = sum(not t.ok for t in listings)
    raise TraceError(f"run directory {d} has no trace of step {step}; it has steps {steps}"
                     + (f" ({damaged} damaged trace(s) besides)" if damaged else ""))


def find_trace(path: str | os.PathLike[str], step: int | None = None) -> Path:
    """Resolve a trace file or a run directory to one trace file: the latest step, or
    ``step`` when given.  Damaged traces of a run directory do not block healthy ones."""
    p = Path(path)
    kind = path_kind(p)
    if kind == "file":
        if step is not None:
            with open_trace(p) as trace:
                if trace.metadata.step != step:
                    raise TraceError(f"trace {p} holds step {trace.metadata.step}, not {step}")
        return p
    if kind != "a directory":
        raise TraceError(f"{p} is {kind}, neither a trace file nor a run directory; give a "
                         f"{TRACE_SUFFIX} file or a run directory")
    listings = scan_traces(p)
    if not listings:
        raise _no_traces(p)
    return _latest(p, listings) if step is None else _by_step(p, listings, step)


def check_trace(path: str | os.PathLike[str], step: int | None = None, *,
                deep: bool = False) -> TraceCheck:
    """Check a trace file (or the latest / ``step`` trace of a run directory): the
    manifest, every tensor's members (``deep``: every tensor decoded, masks and values
    checked).  Damage is reported in the result, never raised; a path that names no trace
    raises :class:`TraceError`."""
    target = find_trace(path, step)
    try:
        with open_trace(target) as trace:
            return trace.check(deep=deep)
    except TraceError as exc:
        return TraceCheck(target, deep, 0, 0, (str(exc),))
