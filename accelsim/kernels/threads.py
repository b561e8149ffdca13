"""How many threads the numba kernels use (their ``prange`` loops).

Every parallel kernel writes per-index outputs that are reduced in a fixed order, so a result
is the same for any thread count; the count only changes the wall time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numba

__all__ = ["available_threads", "kernel_threads"]


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
