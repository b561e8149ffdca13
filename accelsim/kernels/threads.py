"""How many threads the kernels use, and how they share work among them.

The parallel kernels (the bit-serial step costs, SCNN's channel ranges and groups, ...) are
compiled with ``nogil=True`` and run on plain Python threads.  Work is shared in *jobs*: a
job is a list of independent items (ranges of windows or PEs, the problems of a pass, the passes of a layer),
each writing only its own outputs, whose results come back in item order -- a result is the
same for any thread count, which only changes the wall time.

Threads share a job by *claiming* its items one at a time: the calling thread works through
its own job, and each kernel thread that is idle joins in (a job is open to ``threads - 1``
others; an idle thread takes the newest open job, the innermost and finest work).  A job may
start jobs of its own (the problems of a pass inside the passes of a layer; the ranges of a
kernel inside a problem): the caller always works its job to the end and only waits for items
that other threads are running -- joining other open jobs meanwhile -- so nesting never
deadlocks, and a thread that finishes early helps with whatever is still open: the end of a
layer is shared rather than left to one thread.

The helper threads are started once per thread count and kept (a pool of ``n - 1`` idle
threads blocked on a queue).  A forked child starts without them and makes its own on first
use (:func:`os.register_at_fork`).  No numba parallel region (``prange``) is used, so no numba
threading layer starts -- GNU OpenMP, numba's fallback where TBB is missing, aborts a process
forked after it started -- and a forked process (a ``fork`` multiprocessing pool, a Dask
worker) runs the kernels like any other.
"""

from __future__ import annotations

import collections
import contextvars
import itertools
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

__all__ = ["available_threads", "current_threads", "kernel_threads", "map_ordered",
           "split_run"]

T = TypeVar("T")
R = TypeVar("R")

_THREADS: ContextVar[int | None] = ContextVar("accelsim_kernel_threads", default=None)


def available_threads() -> int:
    """Threads the kernels may use at most in this process: ``NUMBA_NUM_THREADS`` when set
    (sweep workers set it to their share of the cores), else every core this process may
    run on."""
    env = os.environ.get("NUMBA_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def current_threads() -> int:
    """Threads of the kernels run now (:func:`kernel_threads`; default every available)."""
    n = _THREADS.get()
    return available_threads() if n is None else n


@contextmanager
def kernel_threads(threads: int | None) -> Iterator[int]:
    """Run the kernels of the ``with`` block on ``threads`` threads (capped at
    :func:`available_threads`; ``None``: every available one), in the calling thread (and
    context); the previous count comes back afterwards.  Yields the count in use."""
    n = available_threads() if threads is None else max(1, min(int(threads),
                                                                available_threads()))
    token = _THREADS.set(n)
    try:
        yield n
    finally:
        _THREADS.reset(token)


class _Job:
    """Items ``0:n`` of ``fn``, claimed one at a time by the threads that work on it, in
    the context of the thread that started it (a copy per joining thread)."""

    def __init__(self, fn: Callable[[int], object], n: int) -> None:
        self.fn, self.n = fn, n
        self.claim = itertools.count()  # next() is atomic under the GIL
        self.results: list[object] = [None] * n
        self.errors: dict[int, BaseException] = {}
        self.left = n  # items not finished; changed under the pool's lock
        self.context = contextvars.copy_context()

    def work(self, pool: _Pool) -> None:
        """Run items until none is left to claim."""
        while (i := next(self.claim)) < self.n:
            try:
                self.results[i] = self.fn(i)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                self.errors[i] = exc
            with pool.cond:
                self.left -= 1
                if self.left == 0:
                    pool.cond.notify_all()


class _Pool:
    """``size`` helper threads, and the open jobs any idle thread may join (one entry per
    thread the job may still use).  A thread waiting for its own job's last items joins
    open jobs meanwhile."""

    def __init__(self, size: int) -> None:
        self.cond = threading.Condition(threading.Lock())
        self.open: collections.deque[_Job] = collections.deque()
        for k in range(size):
            threading.Thread(target=self._serve, name=f"accelsim-kernel-{k}",
                             daemon=True).start()

    def _next(self, mine: _Job | None) -> _Job | None:
        """An open job to join (None once ``mine`` is finished); blocks until there is."""
        with self.cond:
            while True:
                if mine is not None and mine.left == 0:
                    return None
                if self.open:
                    return self.open.pop()  # the newest: the innermost, finest work
                self.cond.wait()

    def join(self, job: _Job) -> None:
        job.context.copy().run(job.work, self)

    def _serve(self) -> None:
        while True:
            job = self._next(None)
            if job is not None:
                self.join(job)

    def run(self, job: _Job, helpers: int) -> None:
        """Work ``job`` with up to ``helpers`` other threads joining it; return when every
        item is done."""
        with self.cond:
            self.open.extend([job] * helpers)
            self.cond.notify_all()
        job.work(self)
        while (other := self._next(job)) is not None:
            self.join(other)
        with self.cond:  # entries no thread took are of no use now
            if job in self.open:
                self.open = collections.deque(j for j in self.open if j is not job)


_POOLS: dict[int, _Pool] = {}
_POOLS_LOCK = threading.Lock()


def _forget_pools() -> None:
    """In a forked child: the parent's helper threads do not exist here."""
    global _POOLS_LOCK
    _POOLS.clear()
    _POOLS_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pools)


def _pool(threads: int) -> _Pool:
    pool = _POOLS.get(threads)
    if pool is None:
        with _POOLS_LOCK:
            pool = _POOLS.get(threads) or _POOLS.setdefault(threads, _Pool(threads - 1))
    return pool


def _run_job(fn: Callable[[int], R], n: int) -> list[R]:
    """``[fn(i) for i in range(n)]``, the items shared among the kernel threads; the first
    failing item's exception (in item order) is raised."""
    threads = current_threads()
    if min(threads, n) <= 1:
        return [fn(i) for i in range(n)]
    job = _Job(fn, n)
    _pool(threads).run(job, min(threads, n) - 1)
    if job.errors:
        raise job.errors[min(job.errors)]
    return job.results  # type: ignore[return-value]


def _guided(blocks: int, threads: int) -> list[int]:
    """Block counts of the ranges of :func:`split_run`: each ``1 / (2 * threads)`` of what is
    left (at least one block), so ranges shrink towards the end and a thread that joins late
    or finishes early finds small ones."""
    sizes, left = [], blocks
    while left:
        sizes.append(max(1, left // (2 * threads)))
        left -= sizes[-1]
    return sizes


def split_run(fn: Callable[[int, int], object], n: int, align: int = 1) -> None:
    """Run ``fn(start, stop)`` over ``0:n`` split into contiguous ranges (bounds multiples of
    ``align``, shrinking towards the end: :func:`_guided`) shared among the kernel threads.
    ``fn`` must write only what belongs to its range (and release the GIL to gain
    anything)."""
    align = max(1, align)
    blocks = -(-n // align)
    threads = current_threads()
    if n <= 0 or blocks < 2 or threads < 2:
        fn(0, max(n, 0))
        return
    bounds, start = [], 0
    for size in _guided(blocks, threads):
        bounds.append((start, min(n, start + size * align)))
        start = bounds[-1][1]
    _run_job(lambda i: fn(*bounds[i]), len(bounds))


def map_ordered(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``[fn(x) for x in items]`` with the items shared among the kernel threads
    (:func:`current_threads`); the results come back in the order of ``items`` (the same for
    any thread count).  ``fn`` must not share state between items; it may itself call
    :func:`map_ordered` or :func:`split_run` (idle threads join those too)."""
    items = list(items) if not isinstance(items, Sequence) else items
    return _run_job(lambda i: fn(items[i]), len(items))
