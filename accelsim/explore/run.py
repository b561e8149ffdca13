"""Architecture sweeps: a TOML spec of hardware parameters x workloads x passes, run on local
worker processes or an existing Dask cluster, results committed point by point into a
results store (:mod:`accelsim.explore.store`).

A spec is loaded one way only::

    file / dict  ->  validate  ->  frozen SweepSpec           (load_sweep)

and run with :func:`run_sweep`.  Every bad key or value raises a one-line
:class:`SweepError` naming the file, the table and key, the bad value and the fix.

Spec format (paths are relative to the spec file)::

    name = "lookahead-lookaside"          # optional, default: the file name
    passes = ["forward", "backward_input", "backward_weight"]   # optional, default all
    invalid = "skip"                      # or "error" (see below)
    reference = "dadiannao"               # optional: the machine every speedup is against
                                          # (built-in name or hardware TOML path)

    [base]
    hardware = "bit-tactical"             # built-in name or a hardware TOML path

    [grid]                                # crossed with each other (cross product)
    "frontend.lookahead" = [0, 1, 2, 4]   # a list of values
    "frontend.lookaside" = {start = 0, stop = 7, step = 1}   # stop inclusive
    "array.tiles" = {start = 4, stop = 32, factor = 2}       # geometric: 4, 8, 16, 32
    "backend.kind" = "bit-parallel"       # a single value fixes the parameter
    # [grid.memory] bandwidth_gb_per_s = [12.8, 25.6]  (sub-tables work too)

    [[points]]                            # optional explicit points, crossed with [grid]
    "backend.kind" = "tcle"
    "array.columns" = 16

    [zip]                                 # optional: equal-length lists taken together
    "array.rows" = [16, 8]                # -> points {rows 16, columns 1}, {rows 8, columns 2}
    "array.columns" = [1, 2]

    [workloads]
    traces = ["runs/swat-u", "traces/*.trace"]   # files, run directories, globs
    run_steps = "latest"                  # a run directory gives its latest trace, or "all"

    [[workloads.synthetic]]               # seeded synthetic traces, never written to disk
    model = "resnet20"
    dataset = "cifar10"
    method = "swat-u"
    sparsity = [0.8, 0.9]                 # any key may be a list: crossed
    batch = 1
    seed = 0

Hardware parameters are the dotted keys :meth:`accelsim.spec.hardware.Hardware.replace` accepts
(``array.tiles``, ``array.rows``, ``array.columns``, ``array.lanes``, ``array.pe_bits``,
``frontend.kind``, ``frontend.shape``, ``frontend.lookahead``, ``frontend.lookaside``,
``backend.kind``, ``memory.kind``, ``memory.bandwidth_gb_per_s``,
``memory.weight_buffer_bytes`` ... and ``name``).  The hardware points are
``([[points]] + [zip] points, or one empty point) x the [grid] cross product``, each applied
to the base with ``Hardware.replace``; points giving the same hardware digest run once.

Invalid combinations: a value that is invalid on its own, or in every combination it takes
part in (``frontend.lookahead = -1``), is always an error.  A combination that is invalid
while each of its values is valid elsewhere (``frontend.lookaside = 8`` with
``array.lanes = 8``) is skipped with its reason under ``invalid = "skip"`` (the default:
:attr:`SweepSpec.skipped`, printed by the CLI and kept in the store's ``skipped`` table), or
an error under ``invalid = "error"``.

Execution: each point (workload, hardware) is one task.  Local worker processes by default
(:class:`concurrent.futures.ProcessPoolExecutor`, spawn, one per core; ``workers=1`` runs in
this process); with ``scheduler`` (an address such as ``tcp://host:8786``, or a
``dask.distributed.Client``) the tasks go to that Dask cluster (its workers need accelsim
installed).  Results are committed as they finish; a point already in the store (all its
passes) is skipped, so an interrupted sweep resumes where it stopped.  Sweeps running at
once on one store claim each point before computing it (:mod:`accelsim.explore.claims`), so
none is computed twice; a sweep waits for the points another live sweep holds (counted in
:attr:`SweepResult.by_others`) and takes over those of a sweep that died.
"""


from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from accelsim.errors import AccelsimError
from accelsim.explore.claims import Claims, Feed
from accelsim.explore.executors import (
    PointTask,
    default_workers,
    run_dask,
    run_inline,
    run_pool,
)
from accelsim.explore.load import load_sweep
from accelsim.explore.records import PointRecord
from accelsim.explore.spec import SweepError, SweepSpec
from accelsim.explore.store import ResultsStore, open_store

__all__ = ["SweepResult", "plan", "run_sweep"]


@dataclass(frozen=True)
class SweepResult:
    """What a run did: ``total`` points in the sweep, ``already_done`` found in the store,
    ``computed`` now, ``failed`` (trace, params, error), ``remaining`` (left for a later run
    by ``max_points``), ``skipped_invalid`` hardware combinations, ``seconds`` wall time,
    ``by_others`` points a concurrent sweep on the same store finished meanwhile."""

    name: str
    store: Path
    total: int
    already_done: int
    computed: int
    failed: tuple[tuple[str, dict[str, Any], str], ...]
    remaining: int
    skipped_invalid: int
    seconds: float
    executor: str
    by_others: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "store": str(self.store), "total": self.total,
                "already_done": self.already_done, "computed": self.computed,
                "failed": [{"trace": t, "params": p, "error": e} for t, p, e in self.failed],
                "remaining": self.remaining, "skipped_invalid": self.skipped_invalid,
                "seconds": self.seconds, "executor": self.executor, "by_others": self.by_others}


def plan(spec: SweepSpec, done: Mapping[tuple[str, str], frozenset[str]]) -> list[PointTask]:
    """The points of ``spec`` not (completely) in the store, workload by workload, each with
    its missing passes."""
    ref = spec.reference_point
    ref_name, ref_digest = (ref.hardware.name or ref.label, ref.digest) if ref else ("", "")
    tasks = []
    for wl in spec.workloads:
        for hp in spec.hardware:
            have = done.get((wl.digest, hp.digest), frozenset())
            missing = tuple(p for p in spec.passes if p not in have)
            if missing:
                tasks.append(PointTask(wl, hp.hardware, missing, hp.params, spec.name,
                                       spec.derive, hp.label, ref_name, ref_digest))
    return tasks


def _name_done_points(store: ResultsStore, spec: SweepSpec,
                      done: Mapping[tuple[str, str], frozenset[str]]) -> None:
    """Points of ``spec`` already stored take this sweep's labels and reference."""
    ref = spec.reference_point
    ref_name, ref_digest = (ref.hardware.name or ref.label, ref.digest) if ref else ("", "")
    named = [(wl.digest, hp.digest, hp.label, hp.params, ref_name, ref_digest)
             for wl in spec.workloads for hp in spec.hardware if (wl.digest, hp.digest) in done]
    if named:
        store.name_points(named, spec.name)


def run_sweep(spec: SweepSpec | str | os.PathLike[str] | Mapping[str, Any],
              out: str | os.PathLike[str], *, workers: int | None = None,
              scheduler: Any = None, progress: bool = True, max_points: int | None = None,
              on_point: Callable[[PointRecord], None] | None = None) -> SweepResult:
    """Run a sweep into the results store ``out`` (created if missing).

    Points already complete in the store are skipped; each finished point is committed at
    once (an interrupted run loses at most the points in flight).  ``workers``: local
    processes (default: every core; 1 runs in this process); ``scheduler``: a Dask
    scheduler address or ``Client`` (then ``workers`` is ignored); ``max_points``: stop
    after computing that many points (the rest stays for the next run); ``on_point`` is
    called with every committed record.  A point whose simulation raises is recorded in the
    store's ``failures`` and reported in :attr:`SweepResult.failed`; the others go on."""
    if not isinstance(spec, SweepSpec):
        spec = load_sweep(spec)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        raise SweepError(f"workers = {workers!r} must be an integer >= 1")
    if max_points is not None and (isinstance(max_points, bool) or not isinstance(max_points, int)
                                   or max_points < 0):
        raise SweepError(f"max_points = {max_points!r} must be an integer >= 0")
    t0 = time.perf_counter()
    with open_store(out) as store:
        if spec.skipped:
            store.record_skipped(spec.name, ((s.params, s.reason) for s in spec.skipped))
        done = store.done()
        _name_done_points(store, spec, done)
        tasks = plan(spec, done)
        already = spec.size - len(tasks)
        remaining = 0
        if max_points is not None and len(tasks) > max_points:
            remaining = len(tasks) - max_points
            tasks = tasks[:max_points]
        claims = Claims(store)
        feed = Feed(claims, tasks)
        if scheduler is not None:
            executor, outcomes = f"dask {scheduler}", run_dask(feed, scheduler)
        else:
            n = min(workers or default_workers(), max(len(tasks), 1))
            executor = f"{n} local process{'es' if n > 1 else ''}"
            outcomes = run_inline(feed) if n == 1 else run_pool(feed, n)
        bar = _progress(spec, already, progress)
        try:
            computed, failed = _commit(outcomes, store, claims, bar, on_point)
        finally:
            with contextlib.suppress(Exception):
                outcomes.close()
            with contextlib.suppress(Exception):
                claims.release_all()
            bar.update(feed.by_others)
            bar.close()
    return SweepResult(spec.name, Path(out), spec.size, already, computed, tuple(failed),
                       remaining, len(spec.skipped), time.perf_counter() - t0, executor,
                       feed.by_others)


def _commit(outcomes: Any, store: ResultsStore, claims: Claims, bar: Any,
            on_point: Callable[[PointRecord], None] | None
            ) -> tuple[int, list[tuple[str, dict[str, Any], str]]]:
    """Commit every finished point (or record its failure) as it comes; (computed, failed)."""
    failed: list[tuple[str, dict[str, Any], str]] = []
    computed = 0
    for task, record, error in outcomes:
        if record is not None:
            store.write_point(record)
            claims.release(task)
            computed += 1
            if on_point is not None:
                on_point(record)
        else:
            message = (str(error) if isinstance(error, AccelsimError)
                       else f"{type(error).__name__}: {error}")
            store.record_failure(task.workload.digest, task.hardware.digest(), message)
            claims.release(task)
            failed.append((task.workload.label, task.params, message))
            bar.set_postfix(failed=len(failed))
        bar.update(1)
    return computed, failed


def _progress(spec: SweepSpec, already: int, enabled: bool) -> Any:
    return tqdm(total=spec.size, initial=already, unit="point", desc=spec.name,
                disable=not enabled, file=sys.stderr, dynamic_ncols=True, smoothing=0.05)
