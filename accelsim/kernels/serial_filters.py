"""Bit-serial cycles (TCLp, TCLe) of Bit-Tactical with the filter operand scheduled.

The rules are those of :mod:`accelsim.kernels.serial` (positions, codes, the column
recurrence, the step costs); this module computes them in two phases:

1. **Step costs** (:func:`_filter_costs`, the hot loop): the filter schedule is the same for
   every window, so the active slots of every (round, step, PE) are listed once
   (:func:`_filter_slots`, CSR; PEs without an active slot are left out, as they cost
   nothing) and every window runs through them.  The codes come transposed, ``[positions,
   n_windows]``, so that a slot reads its windows contiguously, and windows go
   :data:`CHUNK` at a time, every PE of a chunk simulated side by side
   (:func:`_tcle_units`), so that the inner loops vectorise.  The windows are split into
   contiguous ranges run on the kernel threads (:mod:`accelsim.kernels.threads`; the kernel
   releases the GIL), each writing only its own columns of the cost table: the result does
   not depend on the thread count.
2. **Recurrence** (:func:`_filter_recurrence`, the kernel the window schedule shares):
   the columns walk the rounds, window sets and steps in processing order over the cost
   table; or, for a linear layer under ``[backend]
   linear_columns = "steps"``, :func:`_steps_recurrence` deals each window's steps to the
   columns round-robin.

Codes are uint16 when every value fits (TCLp precisions always; TCLe term masks of
magnitudes below 2**15), else uint32; either gives the same cycles.
"""

from __future__ import annotations

import numba
import numpy as np

from accelsim.kernels.ahead import KernelCall
from accelsim.kernels.serial import TCLE, TCLP, _recurrence, recurrence_calls
from accelsim.kernels.signatures import INT, array_type
from accelsim.kernels.threads import split_run

__all__ = ["CHUNK", "column_state", "kernel_calls", "serial_filters"]

CHUNK = 128
"""Windows simulated side by side (the result does not depend on it)."""


def _filter_slots(src: np.ndarray, steps: np.ndarray, tiles: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The active slots of every round (``tiles`` sets of ``rows`` filters), step and PE.
    -> ``(round_steps int64[rounds], pe_ptr int64[global steps + 1], ptr, pos)``: global step
    ``g`` (rounds one after the other, each ``round_steps`` long) has the PEs
    ``pe_ptr[g]:pe_ptr[g + 1]``, PE ``e`` reads the window positions ``pos[ptr[e]:ptr[e+1]]``
    (only PEs with at least one active slot are listed).  Plain numpy (nothing compiled):
    the slots are laid out ``[round, step, tile, row, lane]``, the processing order."""
    sets, lines, rows, lanes = src.shape
    rounds = -(-sets // tiles)
    set_steps = np.zeros(rounds * tiles, np.int64)
    set_steps[:sets] = steps
    set_steps = set_steps.reshape(rounds, tiles)
    round_steps = set_steps.max(axis=1) if rounds else np.zeros(0, np.int64)
    depth = int(round_steps.max()) if rounds else 0
    grid = np.full((rounds * tiles, depth, rows, lanes), -1, np.int64)
    grid[:sets] = src[:, :depth]
    grid = grid.reshape(rounds, tiles, depth, rows, lanes).transpose(0, 2, 1, 3, 4)
    step = np.arange(depth)
    active = (grid >= 0) & (step[None, :, None] < set_steps[:, None, :])[..., None, None]
    live = step[None, :] < round_steps[:, None]  # the global steps, [round, step]
    active, grid = active[live], grid[live]  # [global step, tile, row, lane]
    per_pe = active.sum(axis=3)
    listed = per_pe > 0
    pe_ptr = np.zeros(listed.shape[0] + 1, np.int64)
    np.cumsum(listed.sum(axis=(1, 2)), out=pe_ptr[1:])
    ptr = np.zeros(int(pe_ptr[-1]) + 1, np.int64)
    np.cumsum(per_pe[listed], out=ptr[1:])
    return round_steps, pe_ptr, ptr, np.ascontiguousarray(grid[active])


@numba.njit(inline="always")
def _tcle_units(buf, n_lanes, n, window, orv, lim, cycles):
    """Cycles of ``n`` independent TCLe PEs run side by side: ``buf[lane, u]`` (lanes
    ``< n_lanes``) holds the term masks of unit ``u`` (consumed; 0 for an idle lane);
    ``cycles[u]`` gets unit ``u``'s :func:`accelsim.kernels.serial._tcle_pe`.  Laid out
    unit-fastest and without ``o`` itself -- the retire mask is ``(lowest_bit(OR of the
    lanes) << window) - 1``, in 64-bit arithmetic, truncated to the masks' width -- so that
    the loops vectorise.  ``orv``, ``lim``: scratch of >= ``n``, of the masks' dtype.
    Inlined into :func:`_costs_tcle` (a call from python compiles it on its own)."""
    for u in range(n):
        orv[u] = 0
        cycles[u] = 0
    for lane in range(n_lanes):
        for u in range(n):
            orv[u] |= buf[lane, u]
    while True:
        pending = 0
        for u in range(n):
            v = np.int64(orv[u])
            pending |= v
            lim[u] = ((v & -v) << window) - 1
            cycles[u] += np.int64(v != 0)
            orv[u] = 0
        if pending == 0:
            return
        for lane in range(n_lanes):
            for u in range(n):
                m = np.int64(buf[lane, u])
                m ^= (m & -m) & np.int64(lim[u])
                buf[lane, u] = m
                orv[u] |= buf[lane, u]


@numba.njit(cache=True, nogil=True)
def _costs_tcle(codes_t, pe_ptr, ptr, pos, window, w0, w1, cost):
    """TCLe step costs of windows ``w0:w1``: ``cost[g, w]`` = ``max(1, slowest PE)`` of
    global step ``g``.  The scratch is allocated here (arrays of the kernel's own are known
    not to alias, which the inner loops need to vectorise), all of the codes' dtype (one
    allocation routine to compile; cycle counts fit)."""
    lanes = 1
    for e in range(ptr.size - 1):
        if ptr[e + 1] - ptr[e] > lanes:
            lanes = ptr[e + 1] - ptr[e]
    buf = np.empty((lanes, CHUNK), codes_t.dtype)
    orv = np.empty(CHUNK, codes_t.dtype)
    lim = np.empty(CHUNK, codes_t.dtype)
    cyc = np.empty(CHUNK, codes_t.dtype)
    top = np.empty(CHUNK, codes_t.dtype)
    for c0 in range(w0, w1, CHUNK):
        n = w1 - c0 if w1 - c0 < CHUNK else CHUNK
        for g in range(pe_ptr.size - 1):
            for u in range(n):
                top[u] = 1
            for e in range(pe_ptr[g], pe_ptr[g + 1]):
                a = ptr[e]
                for i in range(a, ptr[e + 1]):
                    row = codes_t[pos[i], c0:c0 + n]
                    for u in range(n):
                        buf[i - a, u] = row[u]
                _tcle_units(buf, ptr[e + 1] - a, n, window, orv, lim, cyc)
                for u in range(n):
                    if cyc[u] > top[u]:
                        top[u] = cyc[u]
            for u in range(n):
                cost[g, c0 + u] = top[u]


@numba.njit(cache=True, nogil=True)
def _costs_tclp(codes_t, pe_ptr, ptr, pos, w0, w1, cost, active, top, act):
    """TCLp step costs of windows ``w0:w1``: ``cost[g, w]`` = ``max(1, largest precision)``
    of global step ``g``, ``active[g, w]`` its slots with a non-zero code.  ``top``, ``act``:
    int32[CHUNK] scratch."""
    for c0 in range(w0, w1, CHUNK):
        n = min(w1, c0 + CHUNK) - c0
        for g in range(pe_ptr.size - 1):
            for u in range(n):
                top[u] = 1
                act[u] = 0
            for i in range(ptr[pe_ptr[g]], ptr[pe_ptr[g + 1]]):
                row = codes_t[pos[i], c0:c0 + n]
                for u in range(n):
                    code = np.int32(row[u])
                    act[u] += np.int32(code > 0)
                    top[u] = max(top[u], code)
            for u in range(n):
                cost[g, c0 + u] = top[u]
                active[g, c0 + u] = act[u]


def _filter_costs(codes_t: np.ndarray, pe_ptr: np.ndarray, ptr: np.ndarray, pos: np.ndarray,
                  mode: int, window: int, w0: int, w1: int, cost: np.ndarray,
                  active: np.ndarray) -> None:
    """Step costs of windows ``w0:w1`` (the hot loop): ``cost[g, w]`` = ``max(1, slowest
    PE)`` (TCLe) or ``max(1, largest precision)`` (TCLp) of global step ``g``, ``active[g,
    w]`` its slots with a non-zero code (TCLp).  ``cost`` starts at 1, ``active`` at 0.
    Allocates the scratch of :func:`_costs_tcle` / :func:`_costs_tclp` and runs one."""
    top = np.zeros(CHUNK, np.int32)
    if mode == TCLP:
        _costs_tclp(codes_t, pe_ptr, ptr, pos, w0, w1, cost, active, top,
                    np.zeros(CHUNK, np.int32))
        return
    _costs_tcle(codes_t, pe_ptr, ptr, pos, int(window), w0, w1, cost)


def _filter_recurrence(cost: np.ndarray, active: np.ndarray, round_steps: np.ndarray,
                       columns: int, mode: int, registers: int,
                       state: np.ndarray) -> tuple[np.ndarray, int]:
    """The column recurrence over the step costs (rounds, then window sets, then steps),
    continuing from ``state`` (:func:`column_state`, updated in place): every window set of
    round ``rnd`` runs its ``round_steps[rnd]`` global steps (:func:`_recurrence`, the
    kernel the window schedule shares).  -> ``(block int64[rounds, window sets], lane_ops)``
    (lane ops: TCLp's only)."""
    wsets = (cost.shape[1] + columns - 1) // columns
    nsteps = np.repeat(round_steps.reshape(-1, 1), wsets, axis=1)
    row0 = np.zeros(round_steps.size, np.int64)
    np.cumsum(round_steps[:-1], out=row0[1:])
    return _recurrence(cost, active, nsteps, row0, columns, mode, registers, state)


def column_state(columns: int, registers: int) -> np.ndarray:
    """A fresh column recurrence state for :func:`serial_filters`' ``carry``: int64 ``[columns
    finish times, registers + 1 past maxima, global step, max finish]``, all 0."""
    return np.zeros(columns + registers + 3, np.int64)


@numba.njit(cache=True, nogil=True)
def _steps_recurrence(cost, active, round_steps, columns, mode):
    """Each window on its own (DNNsim's linear layers, ``[backend] linear_columns =
    "steps"``): its steps (rounds, then steps) are dealt round-robin to the columns, one
    dispatch a cycle; a step starts at ``max(previous start + 1, its column's finish)`` and
    takes its own cost (no synchronisation, no column registers).  -> ``(block int64[rounds,
    window sets], lane_ops)``: window ``w``'s cycles go to the blocks of window set ``w //
    columns``, split by round (TCLp lane ops: each step's active slots times its cost)."""
    n_windows = cost.shape[1]
    wsets = (n_windows + columns - 1) // columns
    block = np.zeros((round_steps.size, wsets), np.int64)
    finish = np.zeros(columns, np.int64)
    ops = np.int64(0)
    for w in range(n_windows):
        finish[:] = 0
        clock = np.int64(0)
        top = np.int64(0)
        k = 0
        g = 0
        for rnd in range(round_steps.size):
            before = top
            for _ in range(round_steps[rnd]):
                c = k % columns
                start = max(clock, finish[c])
                finish[c] = start + cost[g, w]
                clock = start + 1
                top = max(top, finish[c])
                if mode == TCLP:
                    ops += np.int64(active[g, w]) * cost[g, w]
                k += 1
                g += 1
            block[rnd, w // columns] += top - before
    return block, ops


def _slot_terms(codes_t: np.ndarray, pos: np.ndarray) -> int:
    """TCLe lane operations: the terms every active slot reads over all windows (numpy:
    the set bits of each position's codes, counted 64 bits at a time where a row of codes
    fills whole 64-bit words)."""
    uses = np.bincount(pos, minlength=codes_t.shape[0])
    if codes_t.shape[1] * codes_t.itemsize % 8 == 0 and codes_t.flags.c_contiguous:
        words = codes_t.view(np.uint64)
    else:
        words = codes_t
    return int(np.bitwise_count(words).sum(axis=1, dtype=np.int64) @ uses)


def serial_filters(src: np.ndarray, steps: np.ndarray, codes_t: np.ndarray, tiles: int,
                   columns: int, mode: int, window: int, registers: int,
                   steps_to_columns: bool = False,
                   carry: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Bit-serial cycles with the filter operand scheduled.

    ``src``/``steps`` from :func:`accelsim.kernels.serial._schedule_sources` (sets of
    ``rows`` filters, ``tiles`` sets per round), ``codes_t``: the codes transposed,
    uint16/uint32 ``[lines * lanes, n_windows]`` (precisions for ``mode`` TCLP, term masks
    for TCLE), ``window = 2**bits_first_stage``, ``registers``: column registers (TCLp
    synchronises every step); ``steps_to_columns``: every window on its own, its steps dealt
    round-robin to the columns (:func:`_steps_recurrence`) instead of a window per column;
    ``carry`` (:func:`column_state` of ``columns`` and ``registers``, updated in place): the
    columns go on from where a previous problem's left them instead of starting together
    (not with ``steps_to_columns``).  -> ``(block int64[rounds, window sets], lane_ops)``."""
    if mode == TCLP:
        registers = 0
    codes_t = np.require(codes_t, dtype=np.uint16 if codes_t.dtype == np.uint16 else np.uint32,
                         requirements=("C", "W"))
    n_windows = codes_t.shape[1]
    round_steps, pe_ptr, ptr, pos = _filter_slots(src, steps, tiles)
    cost = np.ones((pe_ptr.size - 1, n_windows), np.int32)
    active = np.zeros_like(cost)
    split_run(lambda w0, w1: _filter_costs(codes_t, pe_ptr, ptr, pos, mode, window, w0, w1,
                                           cost, active), n_windows, CHUNK)
    if steps_to_columns:
        block, ops = _steps_recurrence(cost, active, round_steps, columns, mode)
        ops = int(ops)
    else:
        state = column_state(columns, registers) if carry is None else carry
        block, ops = _filter_recurrence(cost, active, round_steps, columns, mode, registers,
                                        state)
    if mode == TCLE:
        ops += _slot_terms(codes_t, pos)
    return block, int(ops)


def kernel_calls(mode: int, steps_to_columns: bool = False) -> list[KernelCall]:
    """The kernels :func:`serial_filters` runs for ``mode`` (uint16 codes, the usual case:
    uint32 ones compile on first use), the recurrence of ``steps_to_columns`` too, with the
    signatures it normalises to (:func:`accelsim.kernels.ahead.compile_ahead`)."""
    i32, i64, u16 = np.int32, np.int64, np.uint16
    head = (array_type(u16, 2), array_type(i64, 1), array_type(i64, 1), array_type(i64, 1))
    if mode == TCLP:
        costs = KernelCall(_costs_tclp, (*head, INT, INT, array_type(i32, 2),
                                         array_type(i32, 2), array_type(i32, 1),
                                         array_type(i32, 1)), 0.5)
    else:
        costs = KernelCall(_costs_tcle, (*head, INT, INT, INT, array_type(i32, 2)), 0.9)
    out = [costs, *recurrence_calls(mode)]
    if steps_to_columns:
        out.append(KernelCall(_steps_recurrence, (array_type(i32, 2), array_type(i32, 2),
                                                  array_type(i64, 1), INT, INT), 0.7))
    return out
