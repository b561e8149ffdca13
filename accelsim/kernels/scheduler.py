"""Bit-Tactical static weight-skipping scheduler: numba kernels, and the python wrappers that
check their arguments, normalise them (one compiled specialisation per kernel) and allocate
their outputs.

Kernels and compile time: the compiled code is one entry kernel per fill rule --
:func:`_sets_flexible` (priorities 0 and 1) and :func:`_sets_chained` (priority 2) -- whose
helpers are inlined (``inline="always"``), so nothing else is compiled; everything around
the hot loop (checking the offsets, the chain order, allocating) is plain numpy.
:func:`_schedule_steps` (the bit-parallel step counts), :func:`_schedule_sets` (the scheduled
sources of the bit-serial back ends, :func:`accelsim.kernels.serial._schedule_sources`) and
:func:`_schedule_detail` all run on them.  The plain-python references are in
:mod:`accelsim.kernels.scheduler_ref`; the tests compare against them.

Bit-Tactical static weight-skipping scheduler (Delmas Lascorz et al., ASPLOS 2019)
---------------------------------------------------------------------------------
A *filter set* is ``rows`` filters; its buffer is ``lines x rows x lanes`` slots, each holding a
non-zero or a zero (only the boolean "non-zero" mask matters; weights move with their slots).
Candidate offsets ``offsets[k] = (dt, dl)`` come in visiting order (lexicographic in
``(dt, dl)``), e.g. T<2,5> = (1,-1),(1,0),(1,1),(1,3),(2,-2),(2,0),(2,2) and
L<h,d> = (1,-d)..(1,-1),(1,0),(2,0)..(h,0). Every ``dt`` must be in ``[1, lookahead]``.

A zero slot ``(t, lane)`` of filter ``r`` may take the non-zero at
``(t + dt, (lane + dl) mod lanes)`` of the same filter (lanes wrap inside the filter's lane
group; a candidate beyond the last line does not exist). Taking it moves the weight: the
source slot becomes a zero.

Lines are visited in order. Line ``t`` is *skipped* when it is all zero across the whole set
(after earlier promotions) and fewer than ``lookahead`` lines were skipped just before;
otherwise it is *scheduled* (one step) and, filter by filter, its zero slots are filled:

* ``priority 0`` (least-flexible): repeatedly take the zero slot with the fewest non-zero
  candidates (recounted after every take; ties -> lowest lane) and swap its first candidate in;
* ``priority 1`` (most-flexible): the same with the most candidates;
* ``priority 2`` (non-overlapping, DNNsim's training scheduler): one pass over the lanes in
  :func:`_chain_order` order with ``d = max |dl|``; a visited zero takes its first candidate.

A set's step count is the number of scheduled lines. With an all-zero buffer this is
``floor(lines / (lookahead + 1))`` (skip ``h``, schedule one, ...; trailing zero lines are
skipped), and for any buffer ``steps >= floor(lines / (h + 1))`` and
``steps >= ceil(nnz_of_any_filter / lanes)``.

The kernels keep one ``uint64`` bit mask per (line, filter), hence ``lanes <= 64``.

Versus DNNsim (isakedo/DNNsim): its current ``BitTactical::original_schedule`` promotes the zero
with the MOST candidates (priority 1) although its comment says "less flexible first" (older
versions took the minimum, priority 0); its training scheduler
(``TensorDash::non_overlapping_schedule``) chains lanes with the configured lookaside ``D``
(5 for T<2,5>) where this rule uses ``max |dl|`` (3 for T<2,5>), and loops forever for ``D = 0``
or ``D = lanes``. DNNsim counts steps by re-running the skip test on the scheduled buffer, which
gives the same count as counting scheduled lines here.
"""

from __future__ import annotations

import numba
import numpy as np

from accelsim.kernels.ahead import KernelCall
from accelsim.kernels.signatures import BOOL, INT, array_type

LEAST_FLEXIBLE = 0
MOST_FLEXIBLE = 1
NON_OVERLAPPING = 2
MAX_LANES = 64

_ONE = np.uint64(1)
_ZERO = np.uint64(0)


# --------------------------------------------------------------------------------------------
# arguments (plain python: nothing here is compiled)
# --------------------------------------------------------------------------------------------


def _chain_order(lanes: int, d: int) -> np.ndarray:
    """Lane visiting order of the non-overlapping scheduler, int64[lanes].

    From the lowest unvisited lane ``i``: visit ``i, i + d, i + 2d, ...`` while the lane is
    ``< lanes - d + i`` (and ``< lanes``); the chain start itself is always visited. ``d == 0``
    (or ``d >= lanes``) gives ``0 .. lanes - 1``. 16 lanes, d = 5:
    0,5,10,1,6,11,2,7,12,3,8,13,4,9,14,15.
    """
    if lanes < 0 or d < 0:
        raise ValueError("_chain_order: lanes and d must be >= 0")
    order: list[int] = []
    visited = [False] * lanes
    for i in range(lanes):
        pos = i
        while not visited[pos]:
            order.append(pos)
            visited[pos] = True
            pos += d
            if d == 0 or pos >= lanes or pos >= lanes - d + i:
                break
    return np.array(order, dtype=np.int64)


def _prepare(offsets: np.ndarray, lanes: int, lookahead: int, priority: int,
             lookaside: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Validate the arguments; -> (dts, lane shifts in [0, lanes), chain order, max dt)."""
    offsets = np.asarray(offsets)
    if offsets.ndim != 2 or offsets.shape[1] != 2:
        raise ValueError("offsets must be an int64 array of shape (k, 2)")
    if lanes < 1 or lanes > MAX_LANES:
        raise ValueError("lanes must be in 1..64")
    if lookahead < 0:
        raise ValueError("lookahead must be >= 0")
    if priority < 0 or priority > 2:
        raise ValueError("priority must be 0 (least-flexible), 1 (most-flexible) or 2")
    dts = np.ascontiguousarray(offsets[:, 0], dtype=np.int64)
    dls = offsets[:, 1].astype(np.int64)
    if ((dts < 1) | (dts > lookahead)).any():
        raise ValueError("every offset dt must be in [1, lookahead]")
    d = int(np.abs(dls).max()) if dls.size else 0
    if lookaside >= 0:  # the front end's d (T<2,5>: 5) spaces the non-overlapping chains
        d = lookaside
    return dts, dls % lanes, _chain_order(lanes, d), int(dts.max()) if dts.size else 0


# --------------------------------------------------------------------------------------------
# helpers of the kernels (inlined into them, never compiled on their own)
# --------------------------------------------------------------------------------------------


@numba.njit(inline="always")
def _rotate(m, s, lanes, full):
    """Bit ``l`` of the result is bit ``(l + s) mod lanes`` of ``m`` (``0 <= s < lanes``)."""
    if s == 0:
        return m
    return ((m >> np.uint64(s)) | (m << np.uint64(lanes - s))) & full


_DEBRUIJN = np.uint64(0x03F79D71B4CB0A89)
_DEBRUIJN_LANE = np.zeros(64, np.int64)
for _i in range(64):
    _DEBRUIJN_LANE[((1 << _i) * 0x03F79D71B4CB0A89 % (1 << 64)) >> 58] = _i
del _i


@numba.njit(inline="always")
def _lowest_lane(low):
    """Index of the single set bit of ``low`` (a de Bruijn multiply: no loop, no branch)."""
    return _DEBRUIJN_LANE[(low * _DEBRUIJN) >> np.uint64(58)]


@numba.njit(inline="always")
def _take(mask, t, r, lane, tt, src, track, orig):
    """Move the non-zero at ``(tt, src)`` of filter ``r`` into the zero slot ``(t, lane)``
    (with ``track``, its origin ``orig`` too; the source slot's becomes -1)."""
    mask[t, r] |= _ONE << np.uint64(lane)
    mask[tt, r] &= ~(_ONE << np.uint64(src))
    if track:
        orig[t, r, lane] = orig[tt, r, src]
        orig[tt, r, src] = -1


@numba.njit(inline="always")
def _fill_chained(mask, t, r, lanes, full, dts, shifts, order, track, orig):
    """Non-overlapping priority: fill the zero slots of line ``t`` of filter ``r`` in the
    lane ``order``, each from its first candidate in offset order."""
    k = dts.shape[0]
    zeros = ~mask[t, r] & full
    avail = _ZERO
    for j in range(k):
        avail |= _rotate(mask[t + dts[j], r], shifts[j], lanes, full)
    avail &= zeros
    # takes only remove candidates, so lanes outside ``avail`` never get one
    i = 0
    while avail != _ZERO:
        lane = order[i]
        i += 1
        bit = _ONE << np.uint64(lane)
        if avail & bit:
            avail ^= bit
            for j in range(k):
                tt = t + dts[j]
                src = lane + shifts[j]
                if src >= lanes:
                    src -= lanes
                if (mask[tt, r] >> np.uint64(src)) & _ONE:
                    _take(mask, t, r, lane, tt, src, track, orig)
                    break


@numba.njit(inline="always")
def _count_lanes(cand, count, avail, k):
    """``count[lane]``: the candidates in ``cand`` of every zero lane of ``avail``."""
    while avail != _ZERO:
        low = avail & (~avail + _ONE)
        c = 0
        for j in range(k):
            if cand[j] & low:
                c += 1
        count[_lowest_lane(low)] = c
        avail ^= low


@numba.njit(inline="always")
def _pick_lane(count, avail, priority):
    """The lane of ``avail`` (not 0) with the fewest (``priority`` 0) or the most
    candidates, ties -> the lowest lane."""
    best = _lowest_lane(avail & (~avail + _ONE))
    rest = avail & (avail - _ONE)
    while rest != _ZERO:
        lane = _lowest_lane(rest & (~rest + _ONE))
        rest &= rest - _ONE
        if (count[lane] < count[best]) if priority == 0 else (count[lane] > count[best]):
            best = lane
    return best


@numba.njit(inline="always")
def _fill_flexible(mask, t, r, lanes, full, dts, shifts, priority, cand, count, track, orig):
    """Least- (``priority`` 0) or most-flexible (1) priority: fill the zero slots of line
    ``t`` of filter ``r``, the lane with the fewest (most) candidates first, each from its
    first candidate in offset order; the counts are updated incrementally (a take only
    removes candidates) and a lane without one leaves ``avail``."""
    k = dts.shape[0]
    zeros = ~mask[t, r] & full
    avail = _ZERO
    for j in range(k):
        cand[j] = _rotate(mask[t + dts[j], r], shifts[j], lanes, full) & zeros
        avail |= cand[j]
    _count_lanes(cand, count, avail, k)
    while avail != _ZERO:
        best = _pick_lane(count, avail, priority)
        low = _ONE << np.uint64(best)
        first = 0
        while not cand[first] & low:
            first += 1
        dt = dts[first]
        src = best + shifts[first]
        if src >= lanes:
            src -= lanes
        _take(mask, t, r, best, t + dt, src, track, orig)
        avail ^= low
        for j in range(k):
            cand[j] &= ~low
            if dts[j] == dt:  # the slot src of line t + dt is now a zero
                other = src - shifts[j]
                if other < 0:
                    other += lanes
                bit = _ONE << np.uint64(other)
                if cand[j] & bit:
                    cand[j] ^= bit
                    count[other] -= 1
                    if count[other] == 0:
                        avail ^= bit


@numba.njit(inline="always")
def _load_set(nonzero, s, mask, orig, track):
    """Set ``s``'s non-zero bit masks into ``mask`` (its lines; the padding lines stay zero)
    and, with ``track``, every slot's origin ``line * lanes + lane`` into ``orig`` (-1: a
    zero)."""
    _, lines, rows, lanes = nonzero.shape
    for t in range(lines):
        for r in range(rows):
            m = _ZERO
            for lane in range(lanes):
                on = nonzero[s, t, r, lane]
                if on:
                    m |= _ONE << np.uint64(lane)
                if track:
                    orig[t, r, lane] = t * lanes + lane if on else -1
            mask[t, r] = m


@numba.njit(inline="always")
def _emit_line(nonzero, s, t, n, orig, occupy_zeros, src):
    """Step ``n`` of set ``s`` is line ``t`` (final: later lines only take from lines below
    them): the origin of every slot into ``src[s, n]`` (see :func:`_schedule_sets`)."""
    _, _, rows, lanes = nonzero.shape
    for r in range(rows):
        for lane in range(lanes):
            o = orig[t, r, lane]
            if o >= 0:
                src[s, n, r, lane] = o
            elif occupy_zeros and not nonzero[s, t, r, lane]:
                src[s, n, r, lane] = t * lanes + lane


def _sets_kernel(chained: bool):
    """The entry kernel of one fill rule: ``chained`` (non-overlapping, priority 2) or the
    least/most-flexible fill (priorities 0 and 1).  ``chained`` is a constant of the
    compiled code, so the other rule is pruned before anything is compiled for it."""

    @numba.njit(cache=True, nogil=True)
    def kernel(nonzero, dts, shifts, order, lookahead, priority, occupy_zeros, track, mask,
               orig, cand, count, steps, src):
        """Schedule every set of ``nonzero`` (bool[sets, lines, rows, lanes]): ``steps[s]``
        gets set ``s``'s step count and, with ``track``, ``src[s, step, row, lane]`` the
        origins (see :func:`_schedule_sets`; -1 stays where the lane is idle).  ``mask``:
        uint64[lines + max dt, rows] zeros; ``orig``: int32[lines, rows, lanes];
        ``cand``/``count``: scratch of k and lanes."""
        sets, lines, rows, lanes = nonzero.shape
        k = dts.shape[0]
        full = _ONE << np.uint64(lanes - 1)
        full = full | (full - _ONE)
        for s in range(sets):
            _load_set(nonzero, s, mask, orig, track)
            n = 0
            skipped = 0
            for t in range(lines):
                line_or = _ZERO
                for r in range(rows):
                    line_or |= mask[t, r]
                if line_or == _ZERO and skipped < lookahead:
                    skipped += 1
                    continue
                skipped = 0
                for r in range(rows if k > 0 else 0):
                    if chained:
                        _fill_chained(mask, t, r, lanes, full, dts, shifts, order, track, orig)
                    else:
                        _fill_flexible(mask, t, r, lanes, full, dts, shifts, priority, cand,
                                       count, track, orig)
                if track:
                    _emit_line(nonzero, s, t, n, orig, occupy_zeros, src)
                n += 1
            steps[s] = n

    return kernel


# one entry kernel per fill rule, so a machine compiles only the rule it uses
_sets_flexible = _sets_kernel(False)
_sets_chained = _sets_kernel(True)


def _schedule_sets(nonzero: np.ndarray, offsets: np.ndarray, lookahead: int, priority: int,
                   lookaside: int, track: bool, occupy_zeros: bool
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Schedule every set of ``nonzero`` (bool[sets, lines, rows, lanes]).

    -> ``(steps int64[sets], src)``: with ``track``, ``src`` is int32[sets, lines, rows,
    lanes]: for step ``s < steps[set]`` and slot ``(row, lane)`` the flat position ``line *
    lanes + lane`` of the weight processed there (its original slot; a promoted weight brings
    its own), -1 where the lane is idle -- its weight was promoted away, or it holds a zero
    that stayed and ``occupy_zeros`` is false (with ``occupy_zeros`` such a zero occupies its
    lane at its own position); rows ``>= steps[set]`` are all -1.  Without ``track``, ``src``
    is empty.  The arguments are normalised here (C order, dtypes, writable) so that every
    call runs the same compiled specialisation."""
    nonzero = np.require(nonzero, dtype=bool, requirements=("C", "W"))
    if nonzero.ndim != 4:
        raise ValueError("nonzero must be a bool array of shape (sets, lines, rows, lanes)")
    sets, lines, rows, lanes = nonzero.shape
    dts, shifts, order, max_dt = _prepare(offsets, lanes, lookahead, priority, lookaside)
    k = dts.size
    steps = np.zeros(sets, np.int64)
    orig = np.empty((lines, rows, lanes) if track else (0, 0, 0), np.int32)
    src = np.full((sets, lines, rows, lanes) if track else (0, 0, 0, 0), -1, np.int32)
    kernel = _sets_chained if priority == NON_OVERLAPPING else _sets_flexible
    kernel(nonzero, dts, shifts, order, int(lookahead), int(priority), bool(occupy_zeros),
           bool(track), np.zeros((lines + max_dt, rows), np.uint64), orig,
           np.zeros(max(k, 1), np.uint64), np.zeros(lanes, np.int64), steps, src)
    return steps, src


def _schedule_steps(nonzero: np.ndarray, offsets: np.ndarray, lookahead: int, priority: int,
                    lookaside: int = -1) -> np.ndarray:
    """Step count of every filter set.

    ``nonzero``: bool[sets, lines, rows, lanes]; ``offsets``: int64[k, 2] in visiting order
    (``k = 0`` for a dense front end); ``lookahead``: h; ``priority``: 0 least-flexible,
    1 most-flexible, 2 non-overlapping. -> int64[sets].
    """
    return _schedule_sets(nonzero, offsets, lookahead, priority, lookaside, False, False)[0]


def _schedule_detail(nonzero: np.ndarray, offsets: np.ndarray, lookahead: int, priority: int,
                     lookaside: int = -1) -> tuple[int, np.ndarray, np.ndarray]:
    """Detailed schedule of one filter set (``nonzero``: bool[lines, rows, lanes]).

    -> ``(steps, src_line, src_lane)``: for step ``s < steps`` and slot ``(filter, lane)`` the
    original (line, lane) of the weight processed there, -1 for a zero (including a slot whose
    weight was promoted away); rows ``>= steps`` are all -1. Both arrays are
    int32[lines, rows, lanes].
    """
    nonzero = np.asarray(nonzero, dtype=bool)
    if nonzero.ndim != 3:
        raise ValueError("nonzero must be a bool array of shape (lines, rows, lanes)")
    steps, src = _schedule_sets(nonzero[None], offsets, lookahead, priority, lookaside, True,
                                False)
    lanes = nonzero.shape[2]
    flat = src[0]
    idle = flat < 0
    src_line = np.where(idle, -1, flat // lanes).astype(np.int32)
    src_lane = np.where(idle, -1, flat % lanes).astype(np.int32)
    return int(steps[0]), src_line, src_lane


def kernel_calls(priority: int) -> list[KernelCall]:
    """The kernel :func:`_schedule_sets` runs for ``priority`` (a fill rule code), with the
    signature it normalises its arguments to (:func:`accelsim.kernels.ahead.compile_ahead`)."""
    kernel = _sets_chained if priority == NON_OVERLAPPING else _sets_flexible
    i64, u64, i32 = np.int64, np.uint64, np.int32
    sig = (array_type(bool, 4), array_type(i64, 1), array_type(i64, 1), array_type(i64, 1),
           INT, INT, BOOL, BOOL, array_type(u64, 2), array_type(i32, 3), array_type(u64, 1),
           array_type(i64, 1), array_type(i64, 1), array_type(i32, 4))
    return [KernelCall(kernel, sig, 1.2)]
