"""Compiling the kernels a simulation will run before it runs them, several at once.

With an empty compile cache (a fresh install, :func:`accelsim.kernels.cache_dir`) the first
call compiles every kernel it reaches, one after the other: numba compiles under one lock per
process, so a second core does not help inside one process.  :func:`compile_ahead` takes the
kernels a machine will run (:meth:`accelsim.arrays.base.ArrayModel.kernels`, each a
:class:`KernelCall`: a kernel and the one signature its python wrapper normalises its
arguments to) and shares those missing from the cache among up to ``processes`` processes:

1. it leaves out the kernels already compiled in this process or already in the on-disk
   cache (loaded when first called, as before);
2. it deals the rest, by compile-time hint (longest first, each to the least loaded
   process), to this process and ``processes - 1`` forked children;
3. each child compiles its share into the cache and exits; meanwhile this process compiles
   its own, then waits for the children and loads theirs from the cache.

The results are those of compiling on first use: the same kernels, signatures and cache
files.  Where the ahead compile cannot help it does nothing and the kernels compile on first
use as before: one process (``processes < 2``: ``--threads 1``), one unit of work, not Linux
(forking a process that holds system frameworks is unsafe on macOS), no usable on-disk cache
(caching disabled, or an unreadable cache entry); with ``always`` (a sweep, ``accelsim
warm``) this process then compiles them alone, now, except without a usable cache.  A child
that fails or hangs costs only time: past the deadline it is stopped, and this process
compiles whatever it left.

Cache safety: numba keeps one index file per function (every closure a factory makes shares
its factory's), and two processes adding different entries to one index at the same time can
pair an entry with the other's data file.  So every kernel of one *unit* (by default the
kernel's function, :attr:`KernelCall.unit`; kernels that call other non-inlined kernels share
a unit with everything calling those) is compiled by one process.  The same race is numba's
between any two processes that compile into one cache on first use, so a local sweep
compiles its machines' kernels this way before its workers start
(:func:`accelsim.explore.executors.compile_for`).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["KernelCall", "compile_ahead"]

CHILD_DEADLINE_S = 30.0
"""The least time (seconds) given to the children after this process finished its own
share; they get at least 5 times what that share took."""


@dataclass(frozen=True)
class KernelCall:
    """One kernel (a numba dispatcher compiled with ``cache=True``) with the signature its
    python wrapper calls it with; ``compile_s``: roughly how long it takes to compile
    (seconds, on the 2-core development machine: only the order in which
    :func:`compile_ahead` deals the kernels out depends on it); ``unit``: kernels with the same
    unit are compiled by one process (default: the kernel's function, see the module
    docstring)."""

    kernel: Any
    signature: tuple[Any, ...]
    compile_s: float
    unit: str = field(default="")

    @property
    def key(self) -> tuple[int, tuple[Any, ...]]:
        return id(self.kernel), tuple(self.signature)

    @property
    def work_unit(self) -> str:
        if self.unit:
            return self.unit
        f = self.kernel.py_func
        return f"{f.__module__}:{f.__qualname__}"

    def ready(self) -> bool:
        """Compiled (or loaded) in this process."""
        return tuple(self.signature) in self.kernel.overloads

    def in_cache(self) -> bool | None:
        """Whether the on-disk cache holds it (None: cannot tell -- no cache, or numba's
        cache layout is not the one this reads)."""
        try:
            cache = self.kernel._cache
            key = cache._index_key(tuple(self.signature), self.kernel.targetctx.codegen())
            return key in cache._cache_file._load_index()
        except Exception:  # noqa: BLE001 - any failure: no ahead compile, compile on first use
            return None

    def compile(self) -> None:
        """Compile it here, or load it from the cache when it is there."""
        self.kernel.compile(tuple(self.signature))


_SETTLED: set[tuple[int, tuple[Any, ...]]] = set()
"""Calls found in the cache or compiled ahead in this process (never probed again)."""
_LOCK = threading.Lock()
"""One ahead compile at a time in a process (two threads never fork for one kernel)."""


def _deal(calls: Sequence[KernelCall], processes: int) -> list[list[KernelCall]]:
    """The units of ``calls`` dealt to at most ``processes`` shares, longest first to the
    least loaded (share 0, this process's, is the most loaded)."""
    units: dict[str, list[KernelCall]] = {}
    for c in calls:
        units.setdefault(c.work_unit, []).append(c)
    order = sorted(units.values(), key=lambda u: (-sum(c.compile_s for c in u),
                                                   u[0].work_unit))
    shares: list[list[KernelCall]] = [[] for _ in range(min(processes, len(order)))]
    load = [0.0] * len(shares)
    for unit in order:
        i = min(range(len(shares)), key=lambda j: (load[j], j))
        shares[i].extend(unit)
        load[i] += sum(c.compile_s for c in unit)
    return sorted(shares, key=lambda s: -sum(c.compile_s for c in s))


def _child(share: Sequence[KernelCall]) -> None:
    """A forked child's life: compile ``share`` into the cache and exit (never returns)."""
    status = 1
    try:
        for c in share:
            c.compile()
        status = 0
    finally:
        os._exit(status)


def _fork(share: Sequence[KernelCall]) -> int | None:
    """A child compiling ``share``; None when it cannot be started.  numba's compiler lock
    is held across the fork, so no other thread of this process is compiling when it
    happens (numba is loaded: the calls hold its kernels; this module does not import it, so
    that importing the simulator loads no numba)."""
    lock = sys.modules["numba.core.compiler_lock"].global_compiler_lock
    with lock, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
        try:
            pid = os.fork()
        except OSError:
            return None
        if pid == 0:
            _child(share)
    return pid


def _wait(pids: Iterable[int], deadline: float) -> None:
    """Wait for the children until ``deadline`` (``time.monotonic``); stop those left."""
    left = set(pids)
    try:
        while left and time.monotonic() < deadline:
            for pid in list(left):
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    left.discard(pid)
            if left:
                time.sleep(0.005)
    finally:
        for pid in left:
            with contextlib.suppress(OSError):
                os.kill(pid, 9)
                os.waitpid(pid, 0)


def compile_ahead(calls: Iterable[KernelCall], processes: int, *,
                  always: bool = False) -> list[KernelCall]:
    """Compile the ``calls`` missing from the on-disk cache in up to ``processes`` processes
    (see the module docstring); ``always``: in this process alone where they cannot be
    shared (rather than leaving them to the first use; a sweep's workers then find them in
    the cache).  -> the calls compiled here or by a child (empty when it left everything to
    the first use)."""
    with _LOCK:
        return _compile_ahead(calls, processes, always)


def _compile_ahead(calls: Iterable[KernelCall], processes: int,
                   always: bool) -> list[KernelCall]:
    todo: dict[tuple[int, tuple[Any, ...]], KernelCall] = {}
    for c in calls:
        if c.key in _SETTLED or c.key in todo or c.ready():
            continue
        cached = c.in_cache()
        if cached is None:
            return []
        if cached:
            _SETTLED.add(c.key)
        else:
            todo[c.key] = c
    shares = _deal(list(todo.values()), processes)
    if len(shares) < 2 or not sys.platform.startswith("linux"):
        if not always:
            return []
        shares = [list(todo.values())]
    pids = [pid for pid in map(_fork, shares[1:]) if pid is not None]
    t0 = time.monotonic()
    try:
        for c in shares[0]:
            c.compile()
    except BaseException:
        _wait(pids, t0)  # interrupted or failed: the children are stopped at once
        raise
    _wait(pids, time.monotonic() + max(CHILD_DEADLINE_S, 5 * (time.monotonic() - t0)))
    for share in shares[1:]:
        for c in share:
            c.compile()  # loads what the child wrote; compiles what it left
    _SETTLED.update(todo)
    return list(todo.values())
