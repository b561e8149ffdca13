"""Cycle model of the Bit-Tactical-style array: pure functions, no state.

A pass of a layer is lowered (:mod:`accelsim.lowering.lower`) to problems of a *filter* operand
``F[n_filters, lines, lanes]`` and a *window* operand ``X[n_windows, lines, lanes]``.  One of
the two is *scheduled*: its members are grouped into buffers (``rows`` filters, or
``columns`` windows), each buffer goes through the static scheduler (:mod:`accelsim.kernels.scheduler`),
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

Back ends: bit-parallel (one line of products per step and cycle), or the bit-serial TCLp /
TCLe (:mod:`accelsim.kernels.recoding`), whose step costs come from the scheduled sources of every slot
(:func:`accelsim.kernels.scheduler._schedule_sources`) and the window operand's values; their base is
``pe_bits`` cycles per dense step.

Every problem also yields its *blocks* -- the cycles of each (filter round, window set) in
processing order (rounds outer), which sum to its compute cycles -- and the bytes and on-chip
access counts that the memory pipeline (:mod:`accelsim.pipeline.memory`) and the energy model
(:mod:`accelsim.pipeline.energy`) take; :func:`pass_cycles` puts the three together.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from accelsim.kernels import scheduler as _kernels
from accelsim.kernels.recoding import fixed_point_magnitudes, serial_codes
from accelsim.pipeline.energy import AccessCounts, energy_pj
from accelsim.spec.hardware import Hardware

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
    energy_pj: float = 0.0       # pJ, this machine (compute, buffers, metadata, DRAM)
    base_energy_pj: float = 0.0  # pJ, the dense baseline: every slot at full width, dense
                                 # weights, each operand loaded once

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
    def energy_efficiency(self) -> float:
        """base_energy / energy: how many times less energy than the dense baseline."""
        return self.base_energy_pj / self.energy_pj if self.energy_pj else 1.0

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
                              self.stall_cycles + other.stall_cycles, scheduled,
                              self.energy_pj + other.energy_pj,
                              self.base_energy_pj + other.base_energy_pj)

    def to_dict(self) -> dict:
        return {"base_cycles": self.base_cycles, "compute_cycles": self.compute_cycles,
                "ideal_cycles": self.ideal_cycles, "stall_cycles": self.stall_cycles,
                "speedup": self.speedup, "exploited_sparsity": self.exploited_sparsity,
                "pe_utilisation": self.pe_utilisation, "effectual_macs": self.effectual_macs,
                "scheduled": self.scheduled, "energy_pj": self.energy_pj,
                "base_energy_pj": self.base_energy_pj,
                "energy_efficiency": self.energy_efficiency}


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


@dataclass(frozen=True, eq=False)
class ProblemTiming:
    """Everything the pass level needs about one lowered problem.

    ``block_cycles[round, window set]``: compute cycles of each block in processing order
    (filter rounds outer), summing to ``breakdown.compute_cycles``.  ``round_bytes`` /
    ``window_set_bytes``: bytes of each filter round as stored and of each window set's source
    data; ``out_bytes[round, window set]``: results written per block.  ``counts`` /
    ``base_counts``: on-chip access counts of this machine and of the dense baseline (no DRAM:
    the memory model adds it).  ``filters_key`` identifies the filter array (shared by the
    problems of a pass that use the same weights), ``window_key`` the source tensor behind the
    windows (shared e.g. by the kernel-tap problems of backward-weight); ``None``: this
    problem's own."""

    breakdown: CycleBreakdown
    block_cycles: np.ndarray
    round_bytes: np.ndarray
    window_set_bytes: np.ndarray
    out_bytes: np.ndarray
    counts: AccessCounts = field(default_factory=AccessCounts)
    base_counts: AccessCounts = field(default_factory=AccessCounts)
    filters_key: int = 0
    window_key: object = None


def select_bits(hw: Hardware) -> int:
    """Multiplexer-select bits per scheduled slot: ``ceil(log2(offsets + 1))`` (the slot's own
    value or one of the front end's candidates); 0 for the dense front end."""
    k = len(hw.frontend.offsets())
    return math.ceil(math.log2(k + 1)) if k else 0


def _schedule_args(hw: Hardware) -> tuple[np.ndarray, int, int, int]:
    fe = hw.frontend
    offsets = np.asarray(fe.offsets(), dtype=np.int64).reshape(-1, 2)
    lookahead = int(offsets[:, 0].max()) if offsets.size else 0
    return offsets, lookahead, PRIORITY_CODES[fe.priority], fe.lookaside


def _serial_blocks(f: np.ndarray, x_vals: np.ndarray, hw: Hardware, scheduled: str
                   ) -> tuple[np.ndarray, np.ndarray, int]:
    """Bit-serial blocks of one problem: -> (block cycles, steps of each scheduled set,
    lane operations).  ``f``: filter mask; ``x_vals``: window magnitudes (uint16)."""
    arr, be = hw.array, hw.backend
    n_f, lines, lanes = f.shape
    mode = _kernels.TCLP if be.kind == "tclp" else _kernels.TCLE
    codes = serial_codes(x_vals, be.kind)
    window = 1 << be.bits_first_stage
    offsets, lookahead, priority, lookaside = _schedule_args(hw)
    if hw.frontend.kind == "dense":
        # every line is a step; zero weights occupy their lanes unless skipped
        offsets, lookahead = offsets[:0], 0
    if scheduled == "filters":
        nonzero = np.ascontiguousarray(_buffers(f, arr.rows))
        if hw.frontend.kind == "dense" and not be.skip_zero_weights:
            nonzero = np.ones_like(nonzero)  # the dense front end feeds every slot
        steps, src = _kernels._schedule_sources(nonzero, offsets, lookahead, priority, lookaside,
                                                not be.skip_zero_weights)
        block, ops = _kernels._serial_filters(src, steps, codes, x_vals.shape[0], arr.tiles,
                                              arr.columns, mode, window, be.column_registers)
        return block, steps, int(ops)
    x = x_vals != 0
    nonzero = np.ascontiguousarray(_buffers(x, arr.columns))
    if hw.frontend.kind == "dense":
        nonzero = np.ones_like(nonzero)
    steps, src = _kernels._schedule_sources(nonzero, offsets, lookahead, priority, lookaside,
                                            True)
    filt = np.ascontiguousarray(f.reshape(n_f, lines * lanes))
    block, ops = _kernels._serial_windows(src, steps, codes, filt, n_f, arr.tiles * arr.rows,
                                          mode, window, be.column_registers,
                                          be.skip_zero_weights)
    return block, steps, int(ops)


def problem_timing(filters: np.ndarray, windows: np.ndarray, hw: Hardware, scheduled: str, *,
                   window_source: int | None = None, window_key: object = None) -> ProblemTiming:
    """Cycles, blocks, bytes and access counts of one lowered problem with the ``"filters"``
    or ``"windows"`` operand scheduled.

    ``filters``: ``[n, lines, lanes]`` (values or mask; only non-zeros matter).  ``windows``:
    the same for the bit-parallel back end; for TCLp/TCLe its values -- uint16 magnitudes are
    used as they are (:func:`accelsim.kernels.recoding.fixed_point_magnitudes` of the whole tensor,
    as :func:`accelsim.simulate.simulate_operands` does before lowering), anything else is
    quantised here with this problem's own scale.  ``window_source``: distinct source
    elements behind the windows (default: the lowered elements) and ``window_key`` the
    identity of that source (problems with equal keys read the same data), for the memory
    model.
    """
    f = _as_mask(filters)
    arr, be = hw.array, hw.backend
    serial = be.serial
    if serial:
        w_raw = np.asarray(windows)
        x_vals = w_raw if w_raw.dtype == np.uint16 else fixed_point_magnitudes(w_raw, arr.pe_bits)
        x = x_vals != 0
    else:
        x = _as_mask(windows)
    n_f, lines, lanes = f.shape
    n_w = x.shape[0]
    if scheduled not in ("filters", "windows"):
        raise ValueError(f"scheduled must be 'filters' or 'windows', not {scheduled!r}")
    filter_rounds = _ceil_div(n_f, arr.tiles * arr.rows)
    window_sets = _ceil_div(n_w, arr.columns)
    empty = np.zeros((filter_rounds, window_sets), np.int64)
    if n_f == 0 or n_w == 0 or lines == 0:
        return ProblemTiming(ZERO, empty, np.zeros(filter_rounds, np.int64),
                             np.zeros(window_sets, np.int64), empty)
    bits = arr.pe_bits
    effectual = int(f.sum(axis=0, dtype=np.int64).ravel() @ x.sum(axis=0, dtype=np.int64).ravel())
    dense_lines = filter_rounds * window_sets * lines
    base = dense_lines * (bits if serial else 1)
    if scheduled == "filters":
        per_filter = -(-f.sum(axis=(1, 2), dtype=np.int64) // lanes)
        pad = filter_rounds * arr.tiles * arr.rows - n_f
        ideal_rounds = np.pad(per_filter, (0, pad)).reshape(filter_rounds, -1).max(axis=1)
        ideal = window_sets * int(ideal_rounds.sum())
    else:
        per_window = -(-x.sum(axis=(1, 2), dtype=np.int64) // lanes)
        pad = window_sets * arr.columns - n_w
        ideal_sets = np.pad(per_window, (0, pad)).reshape(window_sets, arr.columns).max(axis=1)
        ideal = filter_rounds * int(ideal_sets.sum())
    if serial:
        block, steps, lane_ops = _serial_blocks(f, x_vals, hw, scheduled)
        mac_bit_ops = lane_ops
    else:
        steps = set_steps(_buffers(f if scheduled == "filters" else x,
                                   arr.rows if scheduled == "filters" else arr.columns), hw)
        if scheduled == "filters":
            per_round = np.pad(steps, (0, filter_rounds * arr.tiles - steps.size))
            per_round = per_round.reshape(filter_rounds, arr.tiles).max(axis=1)
            block = np.repeat(per_round[:, None], window_sets, axis=1).astype(np.int64)
        else:
            block = np.repeat(steps[None, :], filter_rounds, axis=0).astype(np.int64)
        mac_bit_ops = effectual * bits
    compute = int(block.sum())
    pe_lanes = arr.tiles * arr.rows * arr.columns * lanes
    breakdown = CycleBreakdown(base, compute, ideal, effectual, compute * pe_lanes, 0, scheduled)

    # ---- bytes and access counts ------------------------------------------------------
    sel = select_bits(hw)
    dense_f_bits = n_f * lines * lanes * bits            # filter operand, dense
    dense_x_bits = n_w * lines * lanes * bits            # window operand, lowered, dense
    out_bits = n_f * n_w * bits
    scheduled_slots = int(steps.sum()) * (arr.rows if scheduled == "filters" else arr.columns) \
        * lanes
    if scheduled == "filters":
        reads = window_sets * scheduled_slots * bits + filter_rounds * dense_x_bits
        meta = window_sets * scheduled_slots * sel
        set_bytes = steps * arr.rows * lanes * (bits + sel)
        set_bytes = np.pad(set_bytes, (0, filter_rounds * arr.tiles - steps.size))
        round_bytes = -(-set_bytes.reshape(filter_rounds, arr.tiles).sum(axis=1) // 8)
    else:
        reads = window_sets * dense_f_bits + filter_rounds * scheduled_slots * bits
        meta = filter_rounds * scheduled_slots * sel
        per_round = np.minimum(arr.tiles * arr.rows,
                               n_f - np.arange(filter_rounds) * arr.tiles * arr.rows)
        round_bytes = -(-per_round * lines * lanes * bits // 8)
    source = n_w * lines * lanes if window_source is None else min(window_source, n_w * lines * lanes)
    per_set = np.minimum(arr.columns, n_w - np.arange(window_sets) * arr.columns)
    window_set_bytes = -(-per_set * source * bits // (8 * n_w))
    f_per_round = np.minimum(arr.tiles * arr.rows,
                             n_f - np.arange(filter_rounds) * arr.tiles * arr.rows)
    out_bytes = -(-np.outer(f_per_round, per_set) * bits // 8)
    counts = AccessCounts(mac_bit_ops=int(mac_bit_ops), buffer_read_bits=int(reads),
                          buffer_write_bits=out_bits, metadata_bits=int(meta))
    base_counts = AccessCounts(mac_bit_ops=n_f * n_w * lines * lanes * bits,
                               buffer_read_bits=window_sets * dense_f_bits
                               + filter_rounds * dense_x_bits, buffer_write_bits=out_bits)
    return ProblemTiming(breakdown, block, round_bytes.astype(np.int64),
                         window_set_bytes.astype(np.int64), out_bytes.astype(np.int64),
                         counts, base_counts, id(filters), window_key)


def problem_cycles(filters: np.ndarray, windows: np.ndarray, hw: Hardware,
                   scheduled: str) -> CycleBreakdown:
    """Cycles of one lowered problem (masks ``bool[n, lines, lanes]``; window values for the
    bit-serial back ends) with the ``"filters"`` or ``"windows"`` operand scheduled; no
    memory stalls or energy (see :func:`pass_cycles`)."""
    return problem_timing(filters, windows, hw, scheduled).breakdown


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


def pass_cycles(problems: list, hw: Hardware, *,
                window_sources: Sequence[int | None] | None = None,
                window_keys: Sequence[object] | None = None) -> CycleBreakdown:
    """Cycles of a whole lowered pass: the sum over its problems, plus the memory pipeline's
    stall cycles (:mod:`accelsim.pipeline.memory`) and the energy of this machine and of the dense
    baseline (:mod:`accelsim.pipeline.energy`).  ``window_sources[i]``: distinct source elements
    behind problem i's windows (:func:`accelsim.pipeline.memory.window_source_elements`);
    ``window_keys[i]``: which source tensor that is (equal keys: the same data)."""
    from accelsim.pipeline.memory import blocks_of, pass_memory

    if hw.array.lanes and problems and problems[0].filters.shape[-1] != hw.array.lanes:
        raise ValueError("problems were lowered for a different lane count")
    scheduled = choose_scheduled(problems, hw)
    sources = list(window_sources) if window_sources is not None else [None] * len(problems)
    keys = list(window_keys) if window_keys is not None else [None] * len(problems)
    timings = [problem_timing(p.filters, p.windows, hw, scheduled, window_source=src,
                              window_key=key)
               for p, src, key in zip(problems, sources, keys, strict=True)]
    total = ZERO
    counts = base_counts = AccessCounts()
    for t in timings:
        total = total + t.breakdown
        counts = counts + t.counts
        base_counts = base_counts + t.base_counts
    if not timings:
        return total
    mem = pass_memory(blocks_of(timings, hw), hw)
    moved = 8 * (mem.dram_read_bytes + mem.dram_write_bytes)
    counts = counts + AccessCounts(buffer_write_bits=8 * mem.dram_read_bytes, dram_bits=moved)
    # the dense baseline loads each operand once, weights uncompressed
    bits = hw.array.pe_bits
    seen: set = set()
    base_read = 0
    for i, (p, t) in enumerate(zip(problems, timings, strict=True)):
        if ("f", id(p.filters)) not in seen:
            seen.add(("f", id(p.filters)))
            base_read += -(-p.filters.size * bits // 8)
        wkey = ("w", i) if t.window_key is None else ("w", t.window_key)
        if wkey not in seen:
            seen.add(wkey)
            base_read += int(t.window_set_bytes.sum())
    base_moved = 8 * (base_read + mem.dram_write_bytes)
    base_counts = base_counts + AccessCounts(buffer_write_bits=8 * base_read, dram_bits=base_moved)
    return CycleBreakdown(total.base_cycles, total.compute_cycles, total.ideal_cycles,
                          total.effectual_macs, total.pe_lane_cycles, mem.stall_cycles,
                          total.scheduled, energy_pj(counts, hw.energy),
                          energy_pj(base_counts, hw.energy))
