"""Claims: concurrent sweeps on one results store never compute a point twice.

Before a sweep hands a point to a worker it claims it, in one store transaction: the point
is checked again (a pass finished meanwhile by another sweep is not recomputed) and a row
``(point, owner, host, pid, expires_at)`` goes into the store's ``claims`` table.  A point
claimed by another *live* owner is set aside and retried every :data:`POLL_S` seconds:
when that owner commits it, it counts as done by another sweep; when the owner is dead (a
process of this host that no longer exists) or its lease has expired (:data:`LEASE_S`,
renewed whenever the owner commits or polls; what decides for owners on other hosts), the
point is claimed and computed here.  A sweep releases its claims as it commits points and
when it ends, however it ends; a killed one leaves claims that die with it.

:class:`Feed` is what the executors pull tasks from: the next point this sweep may compute
now, or None (then :attr:`Feed.waiting` says whether points claimed elsewhere remain).
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import socket
import time
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING

from accelsim.explore.records import TOTAL

if TYPE_CHECKING:  # pragma: no cover
    from accelsim.explore.executors import PointTask
    from accelsim.explore.store import ResultsStore

__all__ = ["LEASE_S", "POLL_S", "Claims", "Feed", "ListFeed", "pid_alive"]

#: seconds a claim stays valid without renewal (decides for owners on other hosts)
LEASE_S = 3600.0
#: seconds between retries of points claimed by another live sweep
POLL_S = 0.5

MINE, DONE, BUSY = "mine", "done", "busy"


def pid_alive(pid: int) -> bool:
    """True when a process ``pid`` exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


class Claims:
    """The claims of one sweep run (one owner) on the points of ``store``."""

    def __init__(self, store: ResultsStore, lease_s: float = LEASE_S) -> None:
        self.store = store
        self.lease_s = lease_s
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.owner = f"{self.host}:{self.pid}:{secrets.token_hex(4)}"

    def _live(self, owner: str, host: str, pid: int, expires_at: float) -> bool:
        if owner == self.owner:
            return False
        if expires_at <= time.time():
            return False
        return host != self.host or pid_alive(pid)

    def claim(self, task: PointTask) -> tuple[str, PointTask]:
        """Claim ``task``'s point: (MINE, the task narrowed to the passes still missing),
        (DONE, task) when the store has them all, or (BUSY, task) when another live sweep
        holds it."""
        key = (task.workload.digest, task.hardware.digest())
        with self.store.transaction() as conn:
            have = {r[0] for r in conn.execute(
                "SELECT pass FROM results WHERE trace_digest = ? AND hardware_digest = ? AND "
                "layer = ?", (*key, TOTAL))}
            missing = tuple(p for p in task.passes if p not in have)
            if not missing:
                return DONE, task
            row = conn.execute("SELECT owner, host, pid, expires_at FROM claims WHERE "
                               "trace_digest = ? AND hardware_digest = ?", key).fetchone()
            if row is not None and self._live(*tuple(row)):
                return BUSY, task
            conn.execute("INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, ?, ?)",
                         (*key, self.owner, self.host, self.pid, time.time() + self.lease_s))
        return MINE, dataclasses.replace(task, passes=missing)

    def release(self, task: PointTask) -> None:
        """Drop this sweep's claim on ``task``'s point (committed or failed) and renew the
        others."""
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM claims WHERE trace_digest = ? AND hardware_digest = ? AND "
                         "owner = ?", (task.workload.digest, task.hardware.digest(), self.owner))
            conn.execute("UPDATE claims SET expires_at = ? WHERE owner = ?",
                         (time.time() + self.lease_s, self.owner))

    def release_all(self) -> None:
        """Drop every claim of this sweep (it ends)."""
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM claims WHERE owner = ?", (self.owner,))


class ListFeed:
    """A fixed list of tasks, no claiming (the executors' input outside a sweep)."""

    waiting = False
    poll_s = POLL_S

    def __init__(self, tasks: Iterable[PointTask]) -> None:
        self._tasks = deque(tasks)

    def next(self) -> PointTask | None:
        return self._tasks.popleft() if self._tasks else None

    def left(self) -> list[PointTask]:
        """The tasks not handed out yet."""
        return list(self._tasks)


class Feed:
    """The tasks of a sweep, each claimed as an executor asks for it."""

    def __init__(self, claims: Claims, tasks: Iterable[PointTask], poll_s: float = POLL_S) -> None:
        self.claims = claims
        self.poll_s = poll_s
        self._pending: deque[PointTask] = deque(tasks)
        self._busy: deque[PointTask] = deque()
        self._retry_at = 0.0
        #: points finished by another sweep while this one ran
        self.by_others = 0

    @property
    def waiting(self) -> bool:
        """True while points claimed by another live sweep are left."""
        return bool(self._busy)

    def left(self) -> list[PointTask]:
        """The tasks not handed out yet (pending, or claimed by another sweep)."""
        return [*self._pending, *self._busy]

    def next(self) -> PointTask | None:
        """The next point this sweep may compute now (claimed), or None."""
        if self._busy and time.monotonic() >= self._retry_at:
            self._pending.extend(self._busy)
            self._busy.clear()
            self._retry_at = time.monotonic() + self.poll_s
        while self._pending:
            task = self._pending.popleft()
            status, claimed = self.claims.claim(task)
            if status == MINE:
                return claimed
            if status == DONE:
                self.by_others += 1
            else:
                self._busy.append(task)
        return None
