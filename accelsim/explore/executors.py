"""Running the points of a sweep: one point in a worker (:func:`simulate_point`), and the
executors -- this process, local worker processes, a Dask cluster -- with ONE failure policy:
a point whose simulation raises is yielded as failed (and recorded by the caller) and the
sweep goes on; only a dead worker pool or an unreachable cluster stops it."""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from accelsim.arrays.breakdown import ZERO
from accelsim.arrays.registry import model_for
from accelsim.explore.records import TOTAL, PointRecord
from accelsim.explore.spec import SweepError, Workload
from accelsim.networks.catalog import TableDeriver
from accelsim.simulate import read_operands, simulate_operands
from accelsim.spec.hardware import Hardware
from accelsim.trace.reader import open_trace
from accelsim.trace.synthetic import SyntheticSpec, generate_layers

__all__ = ["Outcome", "PointTask", "default_workers", "run_dask", "run_inline", "run_pool",
           "simulate_point", "worker_threads"]

#: workloads whose operands take more bytes than this are re-read for every point
CACHE_BYTES = 1 << 30


@dataclass(frozen=True)
class PointTask:
    """What a worker needs to simulate one point: the workload, the hardware, the passes
    still missing from the store, the swept parameters (recorded with the point), and how to
    derive layer tables that do not ship (:attr:`accelsim.explore.spec.SweepSpec.derive`)."""

    workload: Workload
    hardware: Hardware
    passes: tuple[str, ...]
    params: dict[str, Any]
    sweep: str = ""
    derive: TableDeriver | None = None


_CACHE: dict[tuple[str, bool], list] = {}
_CACHE_LOCK = threading.Lock()


def _load_layers(workload: Workload, values: bool, derive: TableDeriver | None = None) -> list:
    """``[(geometry, {pass: {role: array}})]`` of a workload: arrays are values for the
    bit-serial back ends, masks otherwise (as :func:`accelsim.simulate.simulate` reads them).
    The last workload is cached per process (the tasks come workload by workload)."""
    key = (workload.digest, values)
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
    layers = []
    size = 0
    if workload.kind == "trace":
        with open_trace(workload.path) as t:
            for layer in t.iter_layers():
                ops = read_operands(layer, layer.passes, values)
                size += sum(a.nbytes for o in ops.values() for a in o.values())
                layers.append((layer.geometry, ops))
    else:
        spec = SyntheticSpec(**workload.synthetic)
        for g, ops in generate_layers(spec, derive=derive):
            if not values:
                ops = {p: {r: a != 0 for r, a in o.items()} for p, o in ops.items()}
            size += sum(a.nbytes for o in ops.values() for a in o.values())
            layers.append((g, ops))
    if size <= CACHE_BYTES:
        with _CACHE_LOCK:
            _CACHE.clear()
            _CACHE[key] = layers
    return layers


def simulate_point(task: PointTask) -> PointRecord:
    """Simulate one point (runs in a worker): the same figures as
    :func:`accelsim.simulate.simulate` (traces) or :func:`accelsim.api.simulate_synthetic`
    (synthetic workloads) give, as a :class:`accelsim.explore.store.PointRecord`."""
    t0 = time.perf_counter()
    hw = task.hardware
    rows = []
    totals = dict.fromkeys(task.passes, ZERO)
    for index, (g, ops) in enumerate(_load_layers(task.workload, model_for(hw).needs_values(hw),
                                                          task.derive)):
        wanted = {p: ops[p] for p in task.passes if p in ops}
        report = simulate_operands(g, wanted, hw, task.passes)
        for p, b in report.passes.items():
            rows.append((g.name, index, p, b))
            totals[p] = totals[p] + b
    rows.extend((TOTAL, -1, p, b) for p, b in totals.items())
    return PointRecord(task.workload.digest, hw.digest(), task.passes, tuple(rows),
                       hw.to_dict(), task.workload.info, task.params, task.sweep,
                       time.perf_counter() - t0, f"{socket.gethostname()}:{os.getpid()}")


Outcome = tuple[PointTask, PointRecord | None, BaseException | None]


def outcome(task: PointTask, result: Callable[[], PointRecord]) -> Outcome:
    """The one failure policy of every executor: ``result()`` is the point's record, or the
    point failed with the exception it raised (recorded; the sweep goes on).  A dead worker
    pool is not a point's failure: it stops the sweep with a :class:`SweepError`."""
    try:
        return task, result(), None
    except BrokenProcessPool:
        raise SweepError("a worker process died (out of memory?); the finished points "
                         "are in the store: re-run the sweep to resume") from None
    except Exception as exc:  # noqa: BLE001 - a failed point is recorded, not fatal
        return task, None, exc


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def worker_threads(workers: int, cores: int | None = None) -> int:
    """Kernel threads of each of ``workers`` local workers sharing ``cores`` cores (default:
    those of this process): ``max(1, cores // workers)``, so that the workers divide the
    cores instead of each using all of them."""
    cores = default_workers() if cores is None else cores
    return max(1, cores // max(1, workers))


def _init_worker(threads: int) -> None:
    """Worker process start: ignore Ctrl-C (the parent handles it) and cap the kernels'
    threads before numba is first imported (a smaller ``NUMBA_NUM_THREADS`` of the user's
    wins)."""
    _ignore_sigint()
    user = os.environ.get("NUMBA_NUM_THREADS", "")
    if not user.isdigit() or int(user) > threads:
        os.environ["NUMBA_NUM_THREADS"] = str(threads)


def run_inline(tasks: Sequence[PointTask]) -> Iterator[Outcome]:
    """Every point in this process, in order."""
    for task in tasks:
        yield outcome(task, lambda task=task: simulate_point(task))


def run_pool(tasks: Sequence[PointTask], workers: int) -> Iterator[Outcome]:
    """The points on ``workers`` spawned local processes, as they finish."""
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_init_worker,
                               initargs=(worker_threads(workers),),
                               mp_context=multiprocessing.get_context("spawn"))
    try:
        futures = {pool.submit(simulate_point, t): t for t in tasks}
        for fut in as_completed(futures):
            yield outcome(futures[fut], fut.result)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def run_dask(tasks: Sequence[PointTask], scheduler: Any) -> Iterator[Outcome]:
    """The points on a Dask cluster (an address or a ``Client``), as they finish."""
    try:
        from dask.distributed import Client, as_completed
    except ImportError:
        raise SweepError("--scheduler needs dask.distributed; pip install 'dask[distributed]' "
                         "(the accelsim[distributed] extra)") from None
    own = not isinstance(scheduler, Client)
    try:
        client = Client(scheduler, timeout="30s") if own else scheduler
    except (OSError, TimeoutError, ValueError) as exc:
        raise SweepError(f"cannot reach the Dask scheduler {scheduler}: {exc}; start one with "
                         "`dask scheduler` or check the address") from None
    try:
        futures = {client.submit(simulate_point, t, pure=False): t for t in tasks}
        try:
            for fut in as_completed(futures):
                yield outcome(futures[fut], fut.result)
        finally:
            client.cancel(list(futures))
    finally:
        if own:
            client.close()


def default_workers() -> int:
    """Cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
