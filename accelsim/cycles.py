"""Cycle model of the Bit-Tactical-style array: pure functions, no state.

A pass of a layer is lowered (:mod:`accelsim.lowering`) to problems of a *filter* operand
``F[n_filters, lines, lanes]`` and a *window* operand ``X[n_windows, lines, lanes]``.  One of
the two is *scheduled*: its members are grouped into buffers (``rows`` filters, or
``columns`` windows), each buffer goes through the static scheduler (:mod:`accelsim._kernels`),
and its all-zero lines are skipped within the lookahead; the other operand streams.

With the filters scheduled (sets of ``rows`` filters, ``tiles`` sets per round, tiles in
lockstep)::

    compute = ceil(W / columns) * sum_rounds max_{sets in round} steps(set)
    base    = ceil(W / columns) * ceil(F / (tiles * rows)) * lines
    ideal   = ceil(W / columns) * sum_rounds max_{filters in round} ceil(nnz(f) / lanes)

With the windows scheduled (sets of ``columns`` windows, shared by all tiles)::

    compute = ceil(F / (tiles * rows)) * sum_{window sets} steps(set)
    base    = ceil(F / (tiles * rows)) * ceil(W / columns) * lines
    ideal   = ceil(F / (tiles * rows)) * sum_{window sets} max_{w in set} ceil(nnz(w) / lanes)

``[frontend] schedule``: ``"weights"`` schedules the filter operand (weights in forward and
backward-input, the output gradient in backward-weight), ``"activations"`` the window operand,
``"sparser"`` (default) whichever has the larger fraction of zeros over the whole, padded
lowered arrays of the pass.  The dense front end never skips: compute = base.

Back end: bit-parallel (one line of products per step and cycle).  The step-level hook for
bit-serial back ends is :func:`set_steps`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from accelsim import _kernels
from accelsim.hardware import Hardware

PRIORITY_CODES = {"least-flexible": 0, "most-flexible": 1, "non-overlapping": 2}


@dataclass(frozen=True)
class CycleBreakdown:
    """Cycles of one pass (or a sum of passes).  Cycles are array clock cycles."""

    base_cycles: int
    compute_cycles: int
    ideal_cycles: int
    effectual_macs: int
    pe_lane_cycles: int  # compute_cycles x PEs x lanes of the array
    stall_cycles: int = 0
    scheduled: str = ""

    @property
    def total_cycles(self) -> int:
        return self.compute_cycles + self.stall_cycles

    @property
    def speedup(self) -> float:
        """base / (compute + stalls); 1.0 for an empty pass."""
        return self.base_cycles / self.total_cycles if self.total_cycles else 1.0

    @property
    def exploited_sparsity(self) -> float:
        """(base - compute) / (base - ideal): the share of the skippable lines skipped."""
        room = self.base_cycles - self.ideal_cycles
        return (self.base_cycles - self.compute_cycles) / room if room > 0 else 0.0

    @property
    def pe_utilisation(self) -> float:
        """Effectual MACs / (compute cycles x PEs x lanes)."""
        return self.effectual_macs / self.pe_lane_cycles if self.pe_lane_cycles else 0.0

    def __add__(self, other: CycleBreakdown) -> CycleBreakdown:
        kinds = {self.scheduled, other.scheduled} - {""}
        scheduled = kinds.pop() if len(kinds) == 1 else ("mixed" if kinds else "")
        return CycleBreakdown(self.base_cycles + other.base_cycles,
                              self.compute_cycles + other.compute_cycles,
                              self.ideal_cycles + other.ideal_cycles,
                              self.effectual_macs + other.effectual_macs,
                              self.pe_lane_cycles + other.pe_lane_cycles,
                              self.stall_cycles + other.stall_cycles, scheduled)

    def to_dict(self) -> dict:
        return {"base_cycles": self.base_cycles, "compute_cycles": self.compute_cycles,
                "ideal_cycles": self.ideal_cycles, "stall_cycles": self.stall_cycles,
                "speedup": self.speedup, "exploited_sparsity": self.exploited_sparsity,
                "pe_utilisation": self.pe_utilisation, "effectual_macs": self.effectual_macs,
                "scheduled": self.scheduled, "energy_pj": None}


ZERO = CycleBreakdown(0, 0, 0, 0, 0)


def _as_mask(a: np.ndarray) -> np.ndarray:
    """Boolean non-zero mask; bool input is used as is (no copy in the hot path)."""
    a = np.asarray(a)
    return a if a.dtype == bool else a != 0


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def set_steps(buffers: np.ndarray, hw: Hardware) -> np.ndarray:
    """Scheduled step count of each buffer ``bool[sets, lines, members, lanes]``."""
    fe = hw.frontend
    if fe.kind == "dense" or buffers.shape[0] == 0:
        return np.full(buffers.shape[0], buffers.shape[1], dtype=np.int64)
    offsets = np.asarray(fe.offsets(), dtype=np.int64).reshape(-1, 2)
    lookahead = int(offsets[:, 0].max()) if offsets.size else 0
    return _kernels._schedule_steps(np.ascontiguousarray(buffers), offsets, lookahead,
                                    PRIORITY_CODES[fe.priority], fe.lookaside)


def _buffers(members: np.ndarray, group: int) -> np.ndarray:
    """``bool[n, lines, lanes]`` -> ``bool[ceil(n/group), lines, group, lanes]`` (zero-padded)."""
    n, lines, lanes = members.shape
    sets = _ceil_div(n, group)
    padded = np.zeros((sets * group, lines, lanes), dtype=bool)
    padded[:n] = members
    return padded.reshape(sets, group, lines, lanes).transpose(0, 2, 1, 3)


def problem_cycles(filters: np.ndarray, windows: np.ndarray, hw: Hardware,
                   scheduled: str) -> CycleBreakdown:
    """Cycles of one lowered problem (masks ``bool[n, lines, lanes]``) with the ``"filters"``
    or ``"windows"`` operand scheduled."""
    f = _as_mask(filters)
    x = _as_mask(windows)
    n_f, lines, lanes = f.shape
    n_w = x.shape[0]
    if n_f == 0 or n_w == 0 or lines == 0:
        return ZERO
    arr = hw.array
    filter_rounds = _ceil_div(n_f, arr.tiles * arr.rows)
    window_sets = _ceil_div(n_w, arr.columns)
    effectual = int(f.sum(axis=0, dtype=np.int64).ravel() @ x.sum(axis=0, dtype=np.int64).ravel())
    base = filter_rounds * window_sets * lines
    if scheduled == "filters":
        steps = set_steps(_buffers(f, arr.rows), hw)
        per_filter = -(-f.sum(axis=(1, 2), dtype=np.int64) // lanes)
        pad = filter_rounds * arr.tiles * arr.rows - n_f
        ideal_rounds = np.pad(per_filter, (0, pad)).reshape(filter_rounds, -1).max(axis=1)
        steps_rounds = np.pad(steps, (0, filter_rounds * arr.tiles - steps.size))
        compute = window_sets * int(steps_rounds.reshape(filter_rounds, arr.tiles).max(axis=1).sum())
        ideal = window_sets * int(ideal_rounds.sum())
    elif scheduled == "windows":
        steps = set_steps(_buffers(x, arr.columns), hw)
        per_window = -(-x.sum(axis=(1, 2), dtype=np.int64) // lanes)
        pad = window_sets * arr.columns - n_w
        ideal_sets = np.pad(per_window, (0, pad)).reshape(window_sets, arr.columns).max(axis=1)
        compute = filter_rounds * int(steps.sum())
        ideal = filter_rounds * int(ideal_sets.sum())
    else:
        raise ValueError(f"scheduled must be 'filters' or 'windows', not {scheduled!r}")
    pe_lanes = arr.tiles * arr.rows * arr.columns * lanes
    return CycleBreakdown(base, compute, ideal, effectual, compute * pe_lanes, 0, scheduled)


def choose_scheduled(problems: Iterable, hw: Hardware) -> str:
    """``"filters"`` or ``"windows"`` for a pass, per ``[frontend] schedule``."""
    mode = hw.frontend.schedule
    if mode == "weights":
        return "filters"
    if mode == "activations":
        return "windows"
    zeros_f = size_f = zeros_x = size_x = 0
    for p in problems:
        size_f += p.filters.size
        zeros_f += p.filters.size - int(np.count_nonzero(p.filters))
        size_x += p.windows.size
        zeros_x += p.windows.size - int(np.count_nonzero(p.windows))
    frac_f = zeros_f / size_f if size_f else 0.0
    frac_x = zeros_x / size_x if size_x else 0.0
    return "filters" if frac_f >= frac_x else "windows"


def pass_cycles(problems: list, hw: Hardware) -> CycleBreakdown:
    """Cycles of a whole lowered pass: the sum over its problems."""
    if hw.array.lanes and problems and problems[0].filters.shape[-1] != hw.array.lanes:
        raise ValueError("problems were lowered for a different lane count")
    scheduled = choose_scheduled(problems, hw)
    total = ZERO
    for p in problems:
        total = total + problem_cycles(p.filters, p.windows, hw, scheduled)
    return total
