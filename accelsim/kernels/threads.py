"""How many threads the kernels use, and how they share a loop among them.

The kernels with a parallel loop (the bit-serial step costs, SCNN's PEs) are compiled with
``nogil=True`` and run on plain Python threads, each on its own contiguous slice of the
independent work (windows, PEs), each writing only its own outputs, which are reduced in a
fixed order: a result is the same for any thread count, which only changes the wall time.
No numba parallel region (``prange``) is used, so no numba threading layer starts -- GNU
OpenMP, numba's fallback where TBB is missing, aborts a process forked after it started -- and
a forked process (a ``fork`` multiprocessing pool, a Dask worker) runs the kernels like any
other.  The threads are started per call and end with it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
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


def split_run(fn: Callable[[int, int], object], n: int, align: int = 1) -> None:
    """Run ``fn(start, stop)`` over ``0:n`` split into one contiguous range per kernel
    thread (:func:`current_threads`; range bounds multiples of ``align``): the first range
    in the calling thread, the others on threads of their own.  ``fn`` must write only
    what belongs to its range (and release the GIL to gain anything)."""
    if n <= 0:
        fn(0, 0)
        return
    blocks = -(-n // max(1, align))
    pieces = max(1, min(current_threads(), blocks))
    per = -(-blocks // pieces) * align
    bounds = [(a, min(n, a + per)) for a in range(0, n, per)] or [(0, n)]
    if len(bounds) == 1:
        fn(*bounds[0])
        return
    with ThreadPoolExecutor(max_workers=len(bounds) - 1,
                            thread_name_prefix="accelsim-kernel") as pool:
        futures = [pool.submit(fn, a, b) for a, b in bounds[1:]]
        fn(*bounds[0])
        for f in futures:
            f.result()


def map_ordered(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``[fn(x) for x in items]`` with the items shared among the kernel threads
    (:func:`current_threads`), each item's kernels on one thread; the results come back in
    the order of ``items`` (the same for any thread count).  ``fn`` must not share state
    between items."""
    n = min(current_threads(), len(items))
    if n <= 1:
        return [fn(x) for x in items]

    def one(x: T) -> R:
        with kernel_threads(1):
            return fn(x)
    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="accelsim-kernel") as pool:
        return list(pool.map(one, items))
