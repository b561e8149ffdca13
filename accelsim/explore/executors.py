"""Running the points of a sweep: one point in a worker (:func:`simulate_point`), and the
executors -- this process, local worker processes, a Dask cluster -- with ONE failure policy:
a point whose simulation raises is yielded as failed (and recorded by the caller) and the
sweep goes on; only a dead worker pool or an unreachable cluster stops it.

The executors pull their tasks from a feed (:class:`accelsim.explore.claims.Feed`: each point
claimed in the store just before it goes to a worker; a plain sequence of tasks works too)
and keep only a few points in flight per worker.  Local workers never outlive the sweep:
each one watches its parent (Linux: ``PR_SET_PDEATHSIG``; everywhere: a thread polling the
parent pid) and exits when it dies, by whatever signal, SIGKILL included."""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from accelsim.arrays.breakdown import ZERO
from accelsim.arrays.registry import model_for
from accelsim.explore.claims import Feed, ListFeed
from accelsim.explore.records import TOTAL, PointRecord
from accelsim.explore.spec import SweepError, Workload
from accelsim.kernels.ahead import compile_ahead
from accelsim.kernels.threads import available_threads
from accelsim.networks.catalog import TableDeriver
from accelsim.simulate import read_operands, simulate_operands
from accelsim.spec.hardware import Hardware
from accelsim.trace.reader import open_trace
from accelsim.trace.synthetic import SyntheticSpec, generate_layers

__all__ = ["Outcome", "PointTask", "default_workers", "run_dask", "run_inline", "run_pool",
           "simulate_point", "worker_threads"]

#: workloads whose operands take more bytes than this are re-read for every point
CACHE_BYTES = 1 << 30
#: seconds between a worker's checks that its parent is alive
WATCH_S = 0.5
#: points in flight per local worker (the rest are claimed only when a worker frees up)
IN_FLIGHT_PER_WORKER = 2

Tasks = Sequence["PointTask"] | Feed | ListFeed


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
    label: str = ""
    reference: str = ""
    reference_digest: str = ""


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
        spec = SyntheticSpec.from_dict(workload.synthetic)
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
                       time.perf_counter() - t0, f"{socket.gethostname()}:{os.getpid()}",
                       task.label, task.reference, task.reference_digest)


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


def _die_with_parent() -> None:
    """Linux: have the kernel SIGKILL this process when its parent dies (a no-op
    elsewhere; :func:`watch_parent`'s thread covers it)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)     # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - no libc prctl
        pass


def watch_parent(parent: int, interval_s: float = WATCH_S) -> None:
    """End this (worker) process as soon as process ``parent`` is no longer its parent:
    the parent died, by any signal.  A daemon thread polls :func:`os.getppid`."""
    _die_with_parent()
    if os.getppid() != parent:
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval_s)
        os._exit(1)
    threading.Thread(target=watch, name="accelsim-watch-parent", daemon=True).start()


def _worker_init(parent: int, threads: int) -> None:
    """Initializer of a local worker: Ctrl-C is the parent's to handle; die with it; cap the
    kernels' threads before numba is first imported (a smaller ``NUMBA_NUM_THREADS`` of the
    user's wins)."""
    _ignore_sigint()
    watch_parent(parent)
    user = os.environ.get("NUMBA_NUM_THREADS", "")
    if not user.isdigit() or int(user) > threads:
        os.environ["NUMBA_NUM_THREADS"] = str(threads)


def _feed(tasks: Tasks) -> Feed | ListFeed:
    return tasks if isinstance(tasks, Feed | ListFeed) else ListFeed(tasks)


def run_inline(tasks: Tasks) -> Iterator[Outcome]:
    """Every point in this process, in order (points claimed by another sweep: when it
    releases them)."""
    feed = _feed(tasks)
    while True:
        task = feed.next()
        if task is None:
            if not feed.waiting:
                return
            time.sleep(feed.poll_s)
            continue
        yield outcome(task, lambda task=task: simulate_point(task))


def compile_for(tasks: Iterable[PointTask]) -> None:
    """Compile the kernels of the tasks' machines missing from the compile cache, in this
    process and forked children (:func:`accelsim.kernels.ahead.compile_ahead`, every core),
    before the workers start: then no two workers compile into one cache index at the same
    time, which could pair an index entry with another kernel's code."""
    machines = {t.hardware.digest(): t.hardware for t in tasks}
    compile_ahead([k for hw in machines.values() for k in model_for(hw).kernels(hw, None)],
                  available_threads(), always=True)


def run_pool(tasks: Tasks, workers: int) -> Iterator[Outcome]:
    """The points on ``workers`` spawned local processes, as they finish (the kernels they
    run compiled first: :func:`compile_for`)."""
    feed = _feed(tasks)
    compile_for(feed.left())
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_worker_init,
                               initargs=(os.getpid(), worker_threads(workers)),
                               mp_context=multiprocessing.get_context("spawn"))
    in_flight: dict[Future, PointTask] = {}
    try:
        while True:
            while len(in_flight) < IN_FLIGHT_PER_WORKER * workers:
                task = feed.next()
                if task is None:
                    break
                in_flight[pool.submit(simulate_point, task)] = task
            if not in_flight:
                if not feed.waiting:
                    return
                time.sleep(feed.poll_s)
                continue
            done, _ = wait(in_flight, timeout=feed.poll_s if feed.waiting else None,
                           return_when=FIRST_COMPLETED)
            for fut in done:
                yield outcome(in_flight.pop(fut), fut.result)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _drain(feed: Feed | ListFeed) -> list[PointTask]:
    """Every task the feed gives now."""
    out = []
    while (task := feed.next()) is not None:
        out.append(task)
    return out


def run_dask(tasks: Tasks, scheduler: Any) -> Iterator[Outcome]:
    """The points on a Dask cluster (an address or a ``Client``), as they finish."""
    feed = _feed(tasks)
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
        while (batch := _drain(feed)) or feed.waiting:
            if not batch:
                time.sleep(feed.poll_s)
                continue
            futures = {client.submit(simulate_point, t, pure=False): t for t in batch}
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
