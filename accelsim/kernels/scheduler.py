"""Numba kernels of the simulator (all of them live here), each with a plain-python reference.

Contents: the Bit-Tactical static scheduler (below), and the bit-serial back ends (TCLp, TCLe;
see the section "bit-serial back ends" further down and :mod:`accelsim.kernels.recoding`): the TCLe
term recoding, one TCLe PE, scheduled sources of every slot, and the cycle kernels for the
filter or the window operand scheduled; and the SCNN Cartesian-product PE array with its
accumulator-bank conflicts (section "SCNN" at the end, :mod:`accelsim.arrays.scnn`).

Every kernel is a private ``@numba.njit(cache=True)`` function taking and returning arrays;
its ``<kernel>_ref`` in :mod:`accelsim.kernels.scheduler_ref` is a straightforward python/numpy
version of the same rule that the tests compare the kernel against.

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

LEAST_FLEXIBLE = 0
MOST_FLEXIBLE = 1
NON_OVERLAPPING = 2
MAX_LANES = 64

_ONE = np.uint64(1)
_ZERO = np.uint64(0)


# --------------------------------------------------------------------------------------------
# chain order of the non-overlapping scheduler
# --------------------------------------------------------------------------------------------


@numba.njit(cache=True)
def _chain_order(lanes, d):
    """Lane visiting order of the non-overlapping scheduler.

    From the lowest unvisited lane ``i``: visit ``i, i + d, i + 2d, ...`` while the lane is
    ``< lanes - d + i`` (and ``< lanes``); the chain start itself is always visited. ``d == 0``
    (or ``d >= lanes``) gives ``0 .. lanes - 1``. 16 lanes, d = 5:
    0,5,10,1,6,11,2,7,12,3,8,13,4,9,14,15.
    """
    if lanes < 0 or d < 0:
        raise ValueError("_chain_order: lanes and d must be >= 0")
    order = np.empty(lanes, np.int64)
    visited = np.zeros(lanes, np.int64)  # int64 as elsewhere: one allocation to compile
    n = 0
    for i in range(lanes):
        if visited[i]:
            continue
        pos = i
        while True:
            order[n] = pos
            n += 1
            visited[pos] = 1
            if d == 0:
                break
            pos += d
            if pos >= lanes or pos >= lanes - d + i or visited[pos]:
                break
    return order


# --------------------------------------------------------------------------------------------
# scheduler kernels
# --------------------------------------------------------------------------------------------


@numba.njit(cache=True)
def _prepare(offsets, lanes, lookahead, priority, lookaside):
    """Validate the arguments; -> (dts, lane shifts in [0, lanes), chain order, max dt)."""
    if offsets.ndim != 2 or offsets.shape[1] != 2:
        raise ValueError("offsets must be an int64 array of shape (k, 2)")
    if lanes < 1 or lanes > MAX_LANES:
        raise ValueError("lanes must be in 1..64")
    if lookahead < 0:
        raise ValueError("lookahead must be >= 0")
    if priority < 0 or priority > 2:
        raise ValueError("priority must be 0 (least-flexible), 1 (most-flexible) or 2")
    k = offsets.shape[0]
    dts = np.empty(k, np.int64)
    shifts = np.empty(k, np.int64)
    max_dt = 0
    d = 0
    for i in range(k):
        dt = offsets[i, 0]
        dl = offsets[i, 1]
        if dt < 1 or dt > lookahead:
            raise ValueError("every offset dt must be in [1, lookahead]")
        dts[i] = dt
        shifts[i] = dl % lanes
        max_dt = max(max_dt, dt)
        d = max(d, abs(dl))
    if lookaside >= 0:  # the front end's d (T<2,5>: 5) spaces the non-overlapping chains
        d = lookaside
    return dts, shifts, _chain_order(lanes, d), max_dt


@numba.njit(cache=True, inline="always")
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


@numba.njit(cache=True, inline="always")
def _lowest_lane(low):
    """Index of the single set bit of ``low`` (a de Bruijn multiply: no loop, no branch)."""
    return _DEBRUIJN_LANE[(low * _DEBRUIJN) >> np.uint64(58)]


@numba.njit(cache=True, inline="always")
def _scratch(k, lanes):
    cand = np.zeros(max(k, 1), np.uint64)
    bucket = np.zeros(k + 1, np.uint64)
    count = np.zeros(lanes, np.int64)
    return cand, bucket, count


@numba.njit(cache=True, inline="always")
def _take(mask, t, r, lane, tt, src, track, oline, olane):
    """Move the non-zero at ``(tt, src)`` of filter ``r`` into the zero slot ``(t, lane)``."""
    mask[t, r] |= _ONE << np.uint64(lane)
    mask[tt, r] &= ~(_ONE << np.uint64(src))
    if track:
        oline[t, r, lane] = oline[tt, r, src]
        olane[t, r, lane] = olane[tt, r, src]
        oline[tt, r, src] = -1
        olane[tt, r, src] = -1


@numba.njit(cache=True)
def _fill_non_overlapping(mask, t, r, lanes, full, dts, shifts, order, track, oline, olane):
    """Non-overlapping priority: fill the zero slots of line ``t`` of filter ``r`` in the
    lane ``order``, each from its first candidate in offset order."""
    k = dts.shape[0]
    zeros = ~mask[t, r] & full
    if zeros == _ZERO:
        return
    avail = _ZERO
    for j in range(k):
        avail |= _rotate(mask[t + dts[j], r], shifts[j], lanes, full)
    avail &= zeros
    if avail == _ZERO:
        return
    # takes only remove candidates, so lanes outside ``avail`` never get one
    for i in range(lanes):
        lane = order[i]
        if (avail >> np.uint64(lane)) & _ONE:
            for j in range(k):
                tt = t + dts[j]
                src = lane + shifts[j]
                if src >= lanes:
                    src -= lanes
                if (mask[tt, r] >> np.uint64(src)) & _ONE:
                    _take(mask, t, r, lane, tt, src, track, oline, olane)
                    break


@numba.njit(cache=True, inline="always")
def _bucket_lanes(cand, bucket, count, avail, k):
    """``bucket[c]``: the zero lanes of ``avail`` with exactly ``c`` candidates in ``cand``
    (``count[lane] = c``)."""
    for c in range(k + 1):
        bucket[c] = _ZERO
    while avail != _ZERO:
        low = avail & (~avail + _ONE)
        c = 0
        for j in range(k):
            if cand[j] & low:
                c += 1
        count[_lowest_lane(low)] = c
        bucket[c] |= low
        avail ^= low


@numba.njit(cache=True, inline="always")
def _pick_bucket(bucket, priority, k):
    """The candidate count whose lanes go first: the least (``priority`` 0) or the most
    flexible non-empty bucket; 0 when every bucket is empty."""
    if priority == 0:
        for i in range(1, k + 1):
            if bucket[i] != _ZERO:
                return i
    else:
        for i in range(k, 0, -1):
            if bucket[i] != _ZERO:
                return i
    return 0


@numba.njit(cache=True, inline="always")
def _drop_source(cand, bucket, count, dts, shifts, dt, src, lanes):
    """The slot ``src`` of line ``t + dt`` is now a zero: every lane that saw it as a
    candidate loses one (moves down one bucket)."""
    for j in range(dts.shape[0]):
        if dts[j] == dt:
            other = src - shifts[j]
            if other < 0:
                other += lanes
            bit = _ONE << np.uint64(other)
            if cand[j] & bit:
                cand[j] ^= bit
                c = count[other]
                bucket[c] ^= bit
                bucket[c - 1] |= bit
                count[other] = c - 1


@numba.njit(cache=True)
def _fill_by_flexibility(mask, t, r, lanes, full, dts, shifts, priority, cand, bucket, count,
                         track, oline, olane):
    """Least- (``priority`` 0) or most-flexible (1) priority: fill the zero slots of line
    ``t`` of filter ``r``, the lane with the fewest (most) candidates first, each from its
    first candidate in offset order; the buckets are updated incrementally (a take only
    removes candidates)."""
    k = dts.shape[0]
    zeros = ~mask[t, r] & full
    if zeros == _ZERO:
        return
    avail = _ZERO
    for j in range(k):
        cand[j] = _rotate(mask[t + dts[j], r], shifts[j], lanes, full) & zeros
        avail |= cand[j]
    if avail == _ZERO:
        return
    _bucket_lanes(cand, bucket, count, avail, k)
    while True:
        c = _pick_bucket(bucket, priority, k)
        if c == 0:
            break
        low = bucket[c] & (~bucket[c] + _ONE)
        best = _lowest_lane(low)
        first = 0
        while not cand[first] & low:
            first += 1
        dt = dts[first]
        src = best + shifts[first]
        if src >= lanes:
            src -= lanes
        _take(mask, t, r, best, t + dt, src, track, oline, olane)
        bucket[c] ^= low
        for j in range(k):
            cand[j] &= ~low
        _drop_source(cand, bucket, count, dts, shifts, dt, src, lanes)


@numba.njit(cache=True)
def _schedule_set(mask, lines, rows, lanes, dts, shifts, order, lookahead, priority, cand,
                  bucket, count, track, oline, olane, out_line, out_lane, out_t):
    """Schedule one set in place; -> number of steps.

    ``mask[t, r]`` is the non-zero bit mask of line ``t`` of filter ``r`` with at least
    ``max dt`` all-zero padding lines after ``lines``. With ``track`` the original (line, lane)
    of every slot travels in ``oline`` / ``olane`` (-1 for zeros) and each scheduled line is
    written to ``out_line[step]`` / ``out_lane[step]`` and its line ``t`` to ``out_t[step]``.
    ``cand`` (k), ``bucket`` (k + 1) and ``count`` (lanes) are scratch.
    """
    k = dts.shape[0]
    full = _ONE << np.uint64(lanes - 1)
    full = full | (full - _ONE)
    steps = 0
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
            if priority == 2:
                _fill_non_overlapping(mask, t, r, lanes, full, dts, shifts, order, track,
                                      oline, olane)
            else:
                _fill_by_flexibility(mask, t, r, lanes, full, dts, shifts, priority, cand,
                                     bucket, count, track, oline, olane)
        if track:
            out_t[steps] = t
            for r in range(rows):
                for lane in range(lanes):
                    out_line[steps, r, lane] = oline[t, r, lane]
                    out_lane[steps, r, lane] = olane[t, r, lane]
        steps += 1
    return steps


@numba.njit(cache=True, inline="always")
def _fill_mask(nonzero, mask, lines, rows, lanes):
    for t in range(lines):
        for r in range(rows):
            m = _ZERO
            for lane in range(lanes):
                if nonzero[t, r, lane]:
                    m |= _ONE << np.uint64(lane)
            mask[t, r] = m


@numba.njit(cache=True, nogil=True)
def _schedule_steps(nonzero, offsets, lookahead, priority, lookaside=-1):
    """Step count of every filter set.

    ``nonzero``: bool[sets, lines, rows, lanes]; ``offsets``: int64[k, 2] in visiting order
    (``k = 0`` for a dense front end); ``lookahead``: h; ``priority``: 0 least-flexible,
    1 most-flexible, 2 non-overlapping. -> int64[sets].
    """
    sets, lines, rows, lanes = nonzero.shape
    dts, shifts, order, max_dt = _prepare(offsets, lanes, lookahead, priority, lookaside)
    mask = np.zeros((lines + max_dt, rows), np.uint64)
    cand, bucket, count = _scratch(dts.shape[0], lanes)
    dummy = np.zeros((1, 1, 1), np.int32)
    out = np.zeros(sets, np.int64)
    for s in range(sets):
        _fill_mask(nonzero[s], mask, lines, rows, lanes)
        out[s] = _schedule_set(mask, lines, rows, lanes, dts, shifts, order, lookahead,
                               priority, cand, bucket, count, False, dummy, dummy, dummy, dummy,
                               dummy[0, 0])
    return out


@numba.njit(cache=True)
def _schedule_detail(nonzero, offsets, lookahead, priority, lookaside=-1):
    """Detailed schedule of one filter set (``nonzero``: bool[lines, rows, lanes]).

    -> ``(steps, src_line, src_lane)``: for step ``s < steps`` and slot ``(filter, lane)`` the
    original (line, lane) of the weight processed there, -1 for a zero (including a slot whose
    weight was promoted away); rows ``>= steps`` are all -1. Both arrays are
    int32[lines, rows, lanes].
    """
    lines, rows, lanes = nonzero.shape
    dts, shifts, order, max_dt = _prepare(offsets, lanes, lookahead, priority, lookaside)
    mask = np.zeros((lines + max_dt, rows), np.uint64)
    _fill_mask(nonzero, mask, lines, rows, lanes)
    oline = np.full((lines + max_dt, rows, lanes), -1, np.int32)
    olane = np.full((lines + max_dt, rows, lanes), -1, np.int32)
    for t in range(lines):
        for r in range(rows):
            for lane in range(lanes):
                if nonzero[t, r, lane]:
                    oline[t, r, lane] = t
                    olane[t, r, lane] = lane
    src_line = np.full((lines, rows, lanes), -1, np.int32)
    src_lane = np.full((lines, rows, lanes), -1, np.int32)
    cand, bucket, count = _scratch(dts.shape[0], lanes)
    out_t = np.zeros(lines, np.int32)
    steps = _schedule_set(mask, lines, rows, lanes, dts, shifts, order, lookahead, priority,
                          cand, bucket, count, True, oline, olane, src_line, src_lane, out_t)
    return steps, src_line, src_lane
