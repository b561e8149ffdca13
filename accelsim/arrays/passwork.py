"""The work of a Bit-Tactical pass, streamed: its scheduled operand chosen on the whole pass,
its lowered problems made one at a time as they are timed.

``[frontend] schedule = "sparser"`` compares the zero fractions of the whole pass's lowered
operands (:func:`choose_scheduled`) before the first problem is timed.  A pass whose lowered
windows take at most :data:`STREAM_BYTES` is lowered once and held; a larger one is lowered
twice, once to count its zeros (:func:`zero_counts`, each problem dropped when counted) and
once problem by problem as the model times it (:func:`scheduled_work`), a few problems per
kernel thread at a time (:data:`TIMED_PER_THREAD`, :func:`work_blocks`): the lowered
operands of a whole batch never sit in memory at once.  The choice, and so every cycle, is
the same either way.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

import numpy as np

from accelsim.arrays.base import Work
from accelsim.spec.hardware import Hardware

__all__ = ["STREAM_BYTES", "TIMED_PER_THREAD", "choose_scheduled", "scheduled_work",
           "work_blocks", "zero_counts"]

T = TypeVar("T")

STREAM_BYTES = 64 << 20
"""Lowered window bytes of a pass held at once; a larger pass is lowered twice."""

TIMED_PER_THREAD = 2
"""Problems timed per kernel thread at a time (one block of lowered problems in memory)."""


def zero_counts(problems: Iterable) -> tuple[int, int, int, int]:
    """(zeros, size) of the filter and of the window operand summed over lowered problems."""
    zeros_f = size_f = zeros_x = size_x = 0
    for p in problems:
        size_f += p.filters.size
        zeros_f += p.filters.size - int(np.count_nonzero(p.filters))
        size_x += p.windows.size
        zeros_x += p.windows.size - int(np.count_nonzero(p.windows))
    return zeros_f, size_f, zeros_x, size_x


def choose_scheduled(problems: Iterable, hw: Hardware, *,
                     counts: tuple[int, int, int, int] | None = None) -> str:
    """``"filters"`` or ``"windows"`` for a pass, per ``[frontend] schedule`` (``counts``: the
    pass's :func:`zero_counts`, else taken from ``problems``)."""
    mode = hw.frontend.schedule
    if mode == "weights":
        return "filters"
    if mode == "activations":
        return "windows"
    zeros_f, size_f, zeros_x, size_x = zero_counts(problems) if counts is None else counts
    frac_f = zeros_f / size_f if size_f else 0.0
    frac_x = zeros_x / size_x if size_x else 0.0
    return "filters" if frac_f >= frac_x else "windows"


def scheduled_work(lower: Callable[[], Iterator[Work]], hw: Hardware) -> Iterable[Work]:
    """The work of a pass with its scheduled operand chosen: kept whole when its lowered
    operands take at most :data:`STREAM_BYTES`, else lowered twice -- once to count its
    zeros, once problem by problem as it is timed -- so that they never sit in memory whole."""
    if hw.frontend.schedule != "sparser":
        scheduled = choose_scheduled((), hw)
        return (dataclasses.replace(w, scheduled=scheduled) for w in lower())
    head: list[Work] = []
    held = 0
    work = lower()
    for w in work:
        head.append(w)
        held += w.problem.windows.nbytes
        if held > STREAM_BYTES:
            break
    else:
        scheduled = choose_scheduled([w.problem for w in head], hw)
        return [dataclasses.replace(w, scheduled=scheduled) for w in head]
    first = zero_counts(w.problem for w in head)
    del head
    rest = zero_counts(w.problem for w in work)
    counts = tuple(a + b for a, b in zip(first, rest, strict=True))
    scheduled = choose_scheduled((), hw, counts=counts)
    return (dataclasses.replace(w, scheduled=scheduled) for w in lower())


def work_blocks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in consecutive lists of ``size`` (the last shorter)."""
    it = iter(items)
    while block := list(itertools.islice(it, size)):
        yield block
