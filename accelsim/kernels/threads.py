"""How many threads the numba kernels use (their ``prange`` loops), and on which threading
layer.

Every parallel kernel writes per-index outputs that are reduced in a fixed order, so a result
is the same for any thread count; the count only changes the wall time.

Threading layer: unless the user chose one (``NUMBA_THREADING_LAYER``), importing this module
(every kernel module with a parallel loop does) selects numba's ``"forksafe"`` layer -- TBB
when it is installed, else numba's own ``workqueue`` -- before the first parallel launch.
numba's default would pick GNU OpenMP where TBB is missing, and a process forked after GNU
OpenMP started (a ``fork`` multiprocessing pool, a Dask worker, the user's own) aborts at its
first parallel kernel.  ``workqueue`` cannot run two parallel kernels at once from two
threads; the kernels hold the GIL while they run, so calls from several threads queue.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import numba

__all__ = ["LAYER", "available_threads", "kernel_threads"]

LAYER = "forksafe"
"""numba threading layer of the kernels (unless ``NUMBA_THREADING_LAYER`` says otherwise)."""

if not os.environ.get("NUMBA_THREADING_LAYER"):
    numba.config.THREADING_LAYER = LAYER


def available_threads() -> int:
    """Threads the kernels may use at most in this process (``NUMBA_NUM_THREADS``, by default
    every core)."""
    return int(numba.config.NUMBA_NUM_THREADS)


@contextmanager
def kernel_threads(threads: int | None) -> Iterator[int]:
    """Run the kernels of the ``with`` block on ``threads`` threads (capped at
    :func:`available_threads`; ``None``: every available one) in the calling thread; the
    previous count comes back afterwards.  Yields the count in use."""
    before = numba.get_num_threads()
    n = available_threads() if threads is None else max(1, min(int(threads),
                                                                available_threads()))
    numba.set_num_threads(n)
    try:
        yield n
    finally:
        numba.set_num_threads(before)
