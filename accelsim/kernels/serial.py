"""Numba kernels of the bit-serial back ends of Bit-Tactical (TCLp, TCLe).

The values, precisions and TCLe terms these kernels read come from
:mod:`accelsim.kernels.recoding`; :mod:`accelsim.kernels.serial_ref` holds the plain python
reference of every kernel here, which the tests compare against.

Positions: the window operand of a lowered problem is ``[n_windows, lines, lanes]``; a slot's
source is the flat position ``pos = line * lanes + lane`` in it (-1: the lane is idle).
``codes[w, pos]`` is, per window and position, the precision (TCLp: bit length of the
magnitude) or the term bit mask (TCLe: bit p set <=> a term at position p) of the window
operand's value there; 0 for a zero.

Time: the array walks the filter rounds (``tiles`` sets of ``rows`` filters; or, with the
windows scheduled, ``tiles * rows`` streamed filters) in order, and inside a round the window
sets (``columns`` windows) in order, and inside those the steps.  Column ``c`` starts global
step ``j`` once it has finished step ``j - 1`` and every column has finished step
``j - 1 - registers``::

    start(c, j) = max(finish(c, j - 1), max_c' finish(c', j - 1 - registers))
    finish(c, j) = start(c, j) + cost(c, j)

(``registers = 0``: the columns synchronise every step.)  ``block[round, window set]`` is the
growth of ``max_c finish`` over that block's steps, so the blocks sum to the compute cycles.

TCLp step cost (all columns alike, registers = 0): ``max(1, max code)`` over every active
slot of every filter and tile, for every window of the set.
TCLe step cost of column c: ``max(1, PE cost)`` over the round's filters (all tiles), the PE
cost of one filter x window being :func:`_tcle_pe`; 0 for a column without a window (the last
window set of a problem may not fill the columns), which then only waits (DNNsim).

With the filters scheduled the cycles come from :mod:`accelsim.kernels.serial_filters`
(:func:`~accelsim.kernels.serial_filters.serial_filters`), with the windows scheduled from
:func:`_serial_windows` here.

Lane operations (for the energy model): TCLp -- every active lane whose activation is non-zero
runs the step's cost in cycles; TCLe -- every term of an active lane is one operation.
"""

from __future__ import annotations

import numba
import numpy as np

from accelsim.kernels.ahead import KernelCall
from accelsim.kernels.scheduler import _lowest_lane, _schedule_sets
from accelsim.kernels.signatures import INT, array_type
from accelsim.kernels.threads import current_threads, split_run

TCLP = 0
TCLE = 1


@numba.njit(inline="always")
def _tcle_pe(buf, n, window):
    """Cycles of one TCLe PE whose lanes hold the term masks ``buf[:n]`` (consumed; empty
    lanes may be 0).

    Each cycle: ``o`` = the lowest pending term over the lanes; every lane retires its lowest
    term if it is ``<= o + window - 1`` (``window = 2**bits_first_stage``).  Repeats until every
    lane is empty; 0 for no terms.  ``o`` grows strictly every cycle, so the count is at most the
    number of distinct term positions over the lanes.  The lane update is branch-free
    (``m ^= lowest_bit(m) & below(o + window)``) so that it vectorises.  Inlined into the
    kernels (a call from python compiles it on its own).
    """
    orv = np.uint32(0)
    for i in range(n):
        orv |= np.uint32(buf[i])
    cycles = 0
    while orv != 0:
        low = np.uint64(orv & (~orv + np.uint32(1)))
        o = _lowest_lane(low)
        lim = np.uint32((np.uint64(1) << np.uint64(o + window)) - np.uint64(1))
        orv = np.uint32(0)
        for i in range(n):
            m = np.uint32(buf[i])
            m ^= (m & (~m + np.uint32(1))) & lim
            buf[i] = m
            orv |= m
        cycles += 1
    return cycles


@numba.njit(inline="always")
def _popcount32(x):
    """Set bits of a 32-bit value (SWAR, in int64 arithmetic so nothing wraps)."""
    x = np.int64(x) & 0xFFFFFFFF
    x = x - ((x >> 1) & 0x55555555)
    x = (x & 0x33333333) + ((x >> 2) & 0x33333333)
    x = (x + (x >> 4)) & 0x0F0F0F0F
    return ((x * 0x01010101) & 0xFFFFFFFF) >> 24


def _schedule_sources(nonzero: np.ndarray, offsets: np.ndarray, lookahead: int, priority: int,
                      lookaside: int, occupy_zeros: bool) -> tuple[np.ndarray, np.ndarray]:
    """Scheduled sources of every filter set for the bit-serial back ends.

    ``nonzero``: bool[sets, lines, rows, lanes] (the scheduled operand's non-zero mask).
    -> ``(steps int64[sets], src int32[sets, lines, rows, lanes])``: for step ``s <
    steps[set]`` and slot ``(row, lane)`` the flat position ``line * lanes + lane`` of the
    value whose partner the slot processes -- the slot's own weight's original (line, lane), a
    promoted weight bringing its own -- or -1 when the lane is idle: its weight was promoted
    away, or it holds a zero that stayed and ``occupy_zeros`` is false.  With ``occupy_zeros``
    a zero that stayed in slot ``(line t of step s, lane)`` occupies its lane at its own
    position (DNNsim).  Rows ``>= steps[set]`` are all -1.  (The scheduler's kernel,
    :func:`accelsim.kernels.scheduler._schedule_sets`, with tracking.)
    """
    return _schedule_sets(nonzero, offsets, lookahead, priority, lookaside, True, occupy_zeros)


@numba.njit(inline="always")
def _advance(costs, columns, finish, hist, j, registers):
    """One global step of the column recurrence; ``hist`` is a ring of the last
    ``registers + 1`` values of ``max_c finish``.  -> the new ``max_c finish``."""
    ring = registers + 1
    back = j - 1 - registers
    gate = hist[back % ring] if back >= 0 else 0
    top = 0
    for c in range(columns):
        start = finish[c] if finish[c] > gate else gate
        finish[c] = start + costs[c]
        if finish[c] > top:
            top = finish[c]
    hist[j % ring] = top
    return top


@numba.njit(inline="always")
def _sync_columns(cost, active, columns):
    """TCLp step: every column takes the step's largest cost (columns run in lockstep);
    -> the step's lane ops, its active lanes times that cost."""
    step = 1
    for c in range(columns):
        step = max(step, cost[c])
    ops = np.int64(0)
    for c in range(columns):
        ops += active[c] * step
        cost[c] = step
    return ops


def _recurrence_kernel(mode: int):
    """The column recurrence's entry kernel for ``mode`` (TCLP or TCLE), a constant of the
    compiled code (the other mode's branches are pruned); both schedules run it
    (:func:`_recurrence`)."""

    @numba.njit(cache=True, nogil=True)
    def kernel(cost, active, nsteps, row0, columns, registers, block, state, step_cost,
               step_active):
        """The column recurrence over the step costs into ``block`` (zeros), continuing from
        ``state`` (updated in place).  -> lane ops (TCLp's)."""
        n_windows = cost.shape[1]
        finish = state[:columns]
        hist = state[columns:columns + registers + 1]
        ops = np.int64(0)
        j = state[state.size - 2]
        top = state[state.size - 1]
        for rnd in range(nsteps.shape[0]):
            for ws in range(nsteps.shape[1]):
                before = top
                for s in range(row0[rnd], row0[rnd] + nsteps[rnd, ws]):
                    for c in range(columns):
                        w = ws * columns + c
                        # no window: the column has no work, it only waits (DNNsim)
                        step_cost[c] = cost[s, w] if w < n_windows else 0
                        if mode == TCLP:
                            step_active[c] = active[s, w] if w < n_windows else 0
                    if mode == TCLP:
                        ops += _sync_columns(step_cost, step_active, columns)
                    top = _advance(step_cost, columns, finish, hist, j, registers)
                    j += 1
                block[rnd, ws] = top - before
        state[state.size - 2] = j
        state[state.size - 1] = top
        return ops

    return kernel


_recurrence_tclp = _recurrence_kernel(TCLP)
_recurrence_tcle = _recurrence_kernel(TCLE)


def _recurrence(cost: np.ndarray, active: np.ndarray, nsteps: np.ndarray, row0: np.ndarray,
                columns: int, mode: int, registers: int, state: np.ndarray
                ) -> tuple[np.ndarray, int]:
    """The column recurrence (rounds, then window sets, then steps) over the step costs
    ``cost`` and (TCLp) active slots ``active``, int32[cost rows, n_windows]: block ``(rnd,
    ws)`` runs ``nsteps[rnd, ws]`` steps, step ``s`` reading row ``row0[rnd] + s``; column
    ``c`` of window set ``ws`` is window ``ws * columns + c``.  Continues from ``state`` (int64
    ``[columns finish times, registers + 1 past maxima, global step, max finish]``, updated
    in place).  -> ``(block int64[rounds, window sets], lane_ops)`` (lane ops: TCLp's only).
    The arguments are normalised so that every call runs one specialisation per mode."""
    nsteps = np.require(nsteps, dtype=np.int64, requirements=("C", "W"))
    block = np.zeros(nsteps.shape, np.int64)
    kernel = _recurrence_tclp if mode == TCLP else _recurrence_tcle
    ops = kernel(np.require(cost, dtype=np.int32, requirements=("C", "W")),
                 np.require(active, dtype=np.int32, requirements=("C", "W")), nsteps,
                 np.require(row0, dtype=np.int64, requirements=("C", "W")), int(columns),
                 int(registers), block, state, np.zeros(columns, np.int64),
                 np.zeros(columns, np.int64))
    return block, int(ops)


def _windows_kernel(mode: int, skip_zero_weights: bool):
    """The entry kernel of :func:`_serial_windows` for ``mode`` (TCLP or TCLE) and
    ``skip_zero_weights``, constants of the compiled code: the other branches are pruned
    before compiling."""

    @numba.njit(cache=True, nogil=True)
    def kernel(src, steps, codes, filt, n_filters, filters_per_round, window, cost, active,
               buf):
        """The step costs of :func:`_serial_windows`: round ``rnd``'s step ``s`` of window
        ``w`` into ``cost[rnd * depth + s, w]`` (``depth = src.shape[1]``; ``cost`` ones,
        ``active`` zeros), ``buf`` scratch.  -> TCLe's lane ops."""
        wsets, depth, columns, lanes = src.shape
        n_windows = codes.shape[0]
        ops = np.int64(0)
        for rnd in range((n_filters + filters_per_round - 1) // filters_per_round):
            f0 = rnd * filters_per_round
            f1 = f0 + filters_per_round if f0 + filters_per_round < n_filters else n_filters
            shared = 1 if skip_zero_weights else f1 - f0  # filters seeing the same lanes
            for ws in range(wsets):
                for s in range(steps[ws]):
                    for c in range(columns if ws * columns + columns <= n_windows
                                   else n_windows - ws * columns):
                        w = ws * columns + c
                        best = 1
                        act = 0
                        for f in range(f0, f1 if skip_zero_weights else f0 + 1):
                            n = 0
                            orv = np.uint32(0)
                            for lane in range(lanes):
                                pos = src[ws, s, c, lane]
                                if pos < 0 or (skip_zero_weights and not filt[f, pos]):
                                    continue
                                m = codes[w, pos]
                                if m != 0:
                                    act += shared
                                    if mode == TCLP:
                                        if m > best:
                                            best = np.int64(m)
                                    else:
                                        ops += _popcount32(m) * shared
                                        buf[n] = m
                                        n += 1
                                        orv |= m
                            if mode == TCLE and n > 0 and _popcount32(orv) > best:
                                cycles = _tcle_pe(buf, n, window)
                                if cycles > best:
                                    best = cycles
                        cost[rnd * depth + s, w] = best
                        active[rnd * depth + s, w] = act
        return ops

    return kernel


_WINDOWS = {(mode, skip): _windows_kernel(mode, skip) for mode in (TCLP, TCLE)
            for skip in (False, True)}


def _serial_windows(src: np.ndarray, steps: np.ndarray, codes: np.ndarray, filt: np.ndarray,
                    n_filters: int, filters_per_round: int, mode: int, window: int,
                    registers: int, skip_zero_weights: bool) -> tuple[np.ndarray, int]:
    """Bit-serial cycles with the window operand scheduled (sets of ``columns`` windows, the
    filters stream, ``filters_per_round = tiles * rows`` of them per round).

    ``src``/``steps`` from :func:`_schedule_sources` on the windows (``rows`` = columns);
    ``codes``: uint32[n_windows, lines * lanes]; ``filt``: bool[n_filters, lines * lanes], the
    filter operand's non-zero mask, read when ``skip_zero_weights`` (then a lane is active only
    where the streamed filter is non-zero, and each filter is its own PE; otherwise every filter
    of a round sees the same lanes).  -> ``(block int64[rounds, window sets], lane_ops)``.
    The arguments are normalised (C order, dtypes, writable) so that every call runs the same
    compiled specialisation of the mode's cost kernel (:func:`_windows_kernel`); the column
    recurrence is :func:`_recurrence`'s, shared with the filter schedule.
    """
    src = np.require(src, dtype=np.int32, requirements=("C", "W"))
    steps = np.require(steps, dtype=np.int64, requirements=("C", "W"))
    wsets, depth, columns, lanes = src.shape
    if mode == TCLP:
        registers = 0
    rounds = (n_filters + filters_per_round - 1) // filters_per_round
    codes = np.require(codes, dtype=np.uint32, requirements=("C", "W"))
    cost = np.ones((rounds * depth, codes.shape[0]), np.int32)
    active = np.zeros_like(cost)
    kernel = _WINDOWS[TCLP if mode == TCLP else TCLE, bool(skip_zero_weights)]
    ops = kernel(src, steps, codes, np.require(filt, dtype=bool, requirements=("C", "W")),
                 int(n_filters), int(filters_per_round), int(window), cost, active,
                 np.zeros(lanes, np.uint32))
    nsteps = np.broadcast_to(steps[:wsets], (rounds, wsets))
    state = np.zeros(columns + registers + 3, np.int64)
    block, sync_ops = _recurrence(cost, active, nsteps, np.arange(rounds) * depth, columns,
                                  mode, registers, state)
    return block, int(ops) + sync_ops


def schedule_sources(nonzero: np.ndarray, offsets: np.ndarray, lookahead: int, priority: int,
                     lookaside: int, occupy_zeros: bool) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_schedule_sources` of the sets ``nonzero[sets, lines, rows, lanes]``
    (C-contiguous), whose sets are independent: ranges of sets are shared among the kernel
    threads (:func:`~accelsim.kernels.threads.split_run`).  -> ``(steps int64[sets], src
    int32 of nonzero's shape)``, the same for any thread count."""
    args = (offsets, lookahead, priority, lookaside, occupy_zeros)
    if nonzero.shape[0] < 2 or current_threads() < 2:
        return _schedule_sources(nonzero, *args)
    steps = np.empty(nonzero.shape[0], np.int64)
    src = np.empty(nonzero.shape, np.int32)

    def part(a: int, b: int) -> None:
        steps[a:b], src[a:b] = _schedule_sources(nonzero[a:b], *args)
    split_run(part, nonzero.shape[0])
    return steps, src


def recurrence_calls(mode: int) -> list[KernelCall]:
    """The column recurrence kernel of ``mode`` with the signature :func:`_recurrence`
    normalises to (:func:`accelsim.kernels.ahead.compile_ahead`)."""
    i32, i64 = np.int32, np.int64
    sig = (array_type(i32, 2), array_type(i32, 2), array_type(i64, 2), array_type(i64, 1),
           INT, INT, array_type(i64, 2), array_type(i64, 1), array_type(i64, 1),
           array_type(i64, 1))
    kernel = _recurrence_tclp if mode == TCLP else _recurrence_tcle
    return [KernelCall(kernel, sig, 0.4)]


def windows_calls(mode: int, skip_zero_weights: bool) -> list[KernelCall]:
    """The kernels :func:`_serial_windows` runs for ``mode`` and ``skip_zero_weights``, with
    the signatures it normalises to (:func:`accelsim.kernels.ahead.compile_ahead`)."""
    i32, i64, u32 = np.int32, np.int64, np.uint32
    sig = (array_type(i32, 4), array_type(i64, 1), array_type(u32, 2), array_type(bool, 2),
           INT, INT, INT, array_type(i32, 2), array_type(i32, 2), array_type(u32, 1))
    mode = TCLP if mode == TCLP else TCLE
    return [KernelCall(_WINDOWS[mode, bool(skip_zero_weights)], sig,
                       0.8 if mode == TCLE else 0.6), *recurrence_calls(mode)]
