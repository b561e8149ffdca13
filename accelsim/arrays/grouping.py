"""What ``[frontend] group_mapping = "dnnsim"`` changes in the timing of a Bit-Tactical pass
(the lowering: :mod:`accelsim.lowering.depthwise`): the filter slots that hold no weight stay
idle, and a sample's groups run back to back without their columns synchronising."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from accelsim.arrays.base import Work
from accelsim.spec.hardware import Hardware

__all__ = ["chain_runs", "idle_unheld"]


def idle_unheld(src: np.ndarray, held: np.ndarray, rows: int) -> None:
    """Idle (-1) every slot of ``src`` (``int32[sets, steps, rows, lanes]``, filters scheduled)
    whose source position holds no weight of its filter (``held``: ``bool[n_filters, lines,
    lanes]``): a slot left empty by the lowering that no weight was promoted into."""
    sets = src.shape[0]
    n_f = held.shape[0]
    per_row = np.ones((sets * rows, held.shape[1] * held.shape[2]), dtype=bool)
    per_row[:n_f] = held.reshape(n_f, -1)
    ok = np.take_along_axis(per_row.reshape(sets, 1, rows, -1), np.maximum(src, 0), axis=3)
    src[(src >= 0) & ~ok] = -1


def chain_runs(work: Iterable[Work], hw: Hardware, scheduled: str) -> Iterator[list[Work]]:
    """The work of a pass in runs timed one after the other, the columns going on from one
    problem to the next (in order; the work streams, a run at a time): under ``[frontend]
    group_mapping = "dnnsim"`` with TCLe and the filters scheduled, the consecutive forward
    problems of the same samples (a layer's groups, or depthwise chunks, of one sample), as
    DNNsim runs a layer's groups without synchronising its columns; else every problem
    alone."""
    together = (hw.frontend.group_mapping == "dnnsim" and hw.backend.kind == "tcle"
                and scheduled == "filters")
    run: list[Work] = []
    for w in work:
        tag = w.problem.tag
        if (together and run and tag[0] == "forward" and not w.steps_to_columns
                and run[-1].problem.tag[:3] == tag[:3]):
            run.append(w)
            continue
        if run:
            yield run
        run = [w]
    if run:
        yield run
