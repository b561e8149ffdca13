"""Numba kernels of the simulator (all of them live here), each with a plain-python reference.

Contents: the Bit-Tactical static scheduler (below), and the bit-serial back ends (TCLp, TCLe;
see the section "bit-serial back ends" further down and :mod:`accelsim.kernels.recoding`): the TCLe
term recoding, one TCLe PE, scheduled sources of every slot, and the cycle kernels for the
filter or the window operand scheduled; and the SCNN Cartesian-product PE array with its
accumulator-bank conflicts (section "SCNN" at the end, :mod:`accelsim.arrays.others`).

Every kernel is a private ``@numba.njit(cache=True)`` function taking and returning arrays;
``<kernel>_ref`` next to it is a straightforward python/numpy version of the same rule that the
tests compare the kernel against.

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
    visited = np.zeros(lanes, np.bool_)
    n = 0
    for i in range(lanes):
        if visited[i]:
            continue
        pos = i
        while True:
            order[n] = pos
            n += 1
            visited[pos] = True
            if d == 0:
                break
            pos += d
            if pos >= lanes or pos >= lanes - d + i or visited[pos]:
                break
    return order


def _chain_order_ref(lanes: int, d: int) -> np.ndarray:
    order: list[int] = []
    for start in range(lanes):
        if start in order:
            continue
        chain = [start]
        while d > 0 and chain[-1] + d < min(lanes, lanes - d + start):
            chain.append(chain[-1] + d)
        order.extend(chain)
    return np.array(order, dtype=np.int64)


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


@numba.njit(cache=True)
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


@numba.njit(cache=True)
def _lowest_lane(low):
    """Index of the single set bit of ``low`` (a de Bruijn multiply: no loop, no branch)."""
    return _DEBRUIJN_LANE[(low * _DEBRUIJN) >> np.uint64(58)]


@numba.njit(cache=True)
def _scratch(k, lanes):
    cand = np.zeros(max(k, 1), np.uint64)
    bucket = np.zeros(k + 1, np.uint64)
    count = np.zeros(lanes, np.int64)
    return cand, bucket, count


@numba.njit(cache=True)
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
                zeros = ~mask[t, r] & full
                if zeros == _ZERO:
                    continue
                avail = _ZERO
                for j in range(k):
                    avail |= _rotate(mask[t + dts[j], r], shifts[j], lanes, full)
                avail &= zeros
                if avail == _ZERO:
                    continue
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
            else:
                zeros = ~mask[t, r] & full
                if zeros == _ZERO:
                    continue
                avail = _ZERO
                for j in range(k):
                    cand[j] = _rotate(mask[t + dts[j], r], shifts[j], lanes, full) & zeros
                    avail |= cand[j]
                if avail == _ZERO:
                    continue
                # bucket[c]: zero lanes with exactly c candidates (count[lane] = c); a take
                # only removes candidates, so the buckets are updated incrementally
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
                while True:
                    c = 0
                    if priority == 0:
                        for i in range(1, k + 1):
                            if bucket[i] != _ZERO:
                                c = i
                                break
                    else:
                        for i in range(k, 0, -1):
                            if bucket[i] != _ZERO:
                                c = i
                                break
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
                    # the source slot is now a zero: lanes that saw it lose one candidate
                    for j in range(k):
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
        if track:
            out_t[steps] = t
            for r in range(rows):
                for lane in range(lanes):
                    out_line[steps, r, lane] = oline[t, r, lane]
                    out_lane[steps, r, lane] = olane[t, r, lane]
        steps += 1
    return steps


@numba.njit(cache=True)
def _fill_mask(nonzero, mask, lines, rows, lanes):
    for t in range(lines):
        for r in range(rows):
            m = _ZERO
            for lane in range(lanes):
                if nonzero[t, r, lane]:
                    m |= _ONE << np.uint64(lane)
            mask[t, r] = m


@numba.njit(cache=True)
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


# --------------------------------------------------------------------------------------------
# references: the rule written the obvious way
# --------------------------------------------------------------------------------------------


def _schedule_detail_ref(nonzero, offsets, lookahead, priority, lookaside=-1):
    steps, src_line, src_lane, _ = _schedule_lines_ref(nonzero, offsets, lookahead, priority,
                                                       lookaside)
    return steps, src_line, src_lane


def _schedule_lines_ref(nonzero, offsets, lookahead, priority, lookaside=-1):
    """:func:`_schedule_detail_ref` plus the original line ``t`` of every step."""
    nonzero = np.asarray(nonzero, dtype=bool)
    lines, rows, lanes = nonzero.shape
    offsets = [(int(dt), int(dl)) for dt, dl in np.asarray(offsets, dtype=np.int64).reshape(-1, 2)]
    if priority not in (0, 1, 2):
        raise ValueError("priority must be 0, 1 or 2")
    if any(not 1 <= dt <= lookahead for dt, _ in offsets):
        raise ValueError("every offset dt must be in [1, lookahead]")

    # buf[t][r][lane]: None for a zero, else the (line, lane) the weight started in
    buf = [[[(t, lane) if nonzero[t, r, lane] else None for lane in range(lanes)]
            for r in range(rows)] for t in range(lines)]

    def candidates(t, r, lane):
        """Non-zero candidates of zero slot (t, lane) of filter r, in offset order."""
        found = []
        for dt, dl in offsets:
            src_t, src_lane = t + dt, (lane + dl) % lanes
            if src_t < lines and buf[src_t][r][src_lane] is not None:
                found.append((src_t, src_lane))
        return found

    def take(t, r, lane, source):
        src_t, src_lane = source
        buf[t][r][lane] = buf[src_t][r][src_lane]
        buf[src_t][r][src_lane] = None

    if lookaside < 0:
        lookaside = max((abs(dl) for _, dl in offsets), default=0)
    chain = [int(lane) for lane in _chain_order_ref(lanes, lookaside)]

    src_line = np.full((lines, rows, lanes), -1, dtype=np.int32)
    src_lane = np.full((lines, rows, lanes), -1, dtype=np.int32)
    step_line = []
    steps = 0
    skipped = 0
    for t in range(lines):
        all_zero = all(slot is None for filt in buf[t] for slot in filt)
        if all_zero and skipped < lookahead:
            skipped += 1
            continue
        skipped = 0
        for r in range(rows):
            if priority == NON_OVERLAPPING:
                for lane in chain:
                    if buf[t][r][lane] is None:
                        found = candidates(t, r, lane)
                        if found:
                            take(t, r, lane, found[0])
                continue
            while True:
                options = {}
                for lane in range(lanes):
                    if buf[t][r][lane] is None:
                        found = candidates(t, r, lane)
                        if found:
                            options[lane] = found
                if not options:
                    break
                if priority == LEAST_FLEXIBLE:
                    lane = min(options, key=lambda ln: (len(options[ln]), ln))
                else:
                    lane = min(options, key=lambda ln: (-len(options[ln]), ln))
                take(t, r, lane, options[lane][0])
        for r in range(rows):
            for lane in range(lanes):
                if buf[t][r][lane] is not None:
                    src_line[steps, r, lane], src_lane[steps, r, lane] = buf[t][r][lane]
        step_line.append(t)
        steps += 1
    return steps, src_line, src_lane, step_line


def _schedule_steps_ref(nonzero, offsets, lookahead, priority, lookaside=-1):
    nonzero = np.asarray(nonzero, dtype=bool)
    return np.array([_schedule_detail_ref(one_set, offsets, lookahead, priority, lookaside)[0]
                     for one_set in nonzero], dtype=np.int64)


# --------------------------------------------------------------------------------------------
# bit-serial back ends (TCLp, TCLe)
# --------------------------------------------------------------------------------------------
#
# Positions: the window operand of a lowered problem is ``[n_windows, lines, lanes]``; a slot's
# source is the flat position ``pos = line * lanes + lane`` in it (-1: the lane is idle).
# ``codes[w, pos]`` is, per window and position, the precision (TCLp: bit length of the
# magnitude) or the term bit mask (TCLe: bit p set <=> a term at position p) of the window
# operand's value there; 0 for a zero.
#
# Time: the array walks the filter rounds (``tiles`` sets of ``rows`` filters; or, with the
# windows scheduled, ``tiles * rows`` streamed filters) in order, and inside a round the window
# sets (``columns`` windows) in order, and inside those the steps.  Column ``c`` starts global
# step ``j`` once it has finished step ``j - 1`` and every column has finished step
# ``j - 1 - registers``::
#
#     start(c, j) = max(finish(c, j - 1), max_c' finish(c', j - 1 - registers))
#     finish(c, j) = start(c, j) + cost(c, j)
#
# (``registers = 0``: the columns synchronise every step.)  ``block[round, window set]`` is the
# growth of ``max_c finish`` over that block's steps, so the blocks sum to the compute cycles.
#
# TCLp step cost (all columns alike, registers = 0): ``max(1, max code)`` over every active
# slot of every filter and tile, for every window of the set.
# TCLe step cost of column c: ``max(1, PE cost)`` over the round's filters (all tiles), the PE
# cost of one filter x window being :func:`_tcle_pe`.
#
# Lane operations (for the energy model): TCLp -- every active lane whose activation is non-zero
# runs the step's cost in cycles; TCLe -- every term of an active lane is one operation.

TCLP = 0
TCLE = 1
TERM_BITS = 16


@numba.njit(cache=True)
def _booth_terms(mags):
    """Term bit masks (uint32, bit p <=> a term at position p, p in 0..16) of 16-bit magnitudes.

    The Booth-like recoding of the Bit-Tactical TCLe back end, scanning bits 15 down to 0 (bits
    below 0 read as 0), starting outside a run: outside a run every 1 bit is a term (+2^p),
    except a 1 at bit p whose bits p-1 and p-2 are also 1, which puts a term at p+1 (+2^(p+1))
    and opens a run; inside a run, a 0 bit whose next lower bit is 1 is a term (-2^p), and the
    first 1 bit whose two lower bits are both 0 is a term (-2^p) and closes the run.
    7 -> {3, 0} (8 - 1); 27 -> {4, 3, 1, 0}.  ``mags``: any integer array of values in
    0..65535; the result has its shape.
    """
    flat = mags.ravel()
    out = np.zeros(flat.size, np.uint32)
    for i in range(flat.size):
        v = np.int64(flat[i])
        if v < 0 or v > 65535:
            raise ValueError("magnitudes must be in 0..65535")
        m = np.uint32(0)
        run = False
        for p in range(TERM_BITS - 1, -1, -1):
            b = (v >> p) & 1
            b1 = (v >> (p - 1)) & 1 if p >= 1 else 0
            b2 = (v >> (p - 2)) & 1 if p >= 2 else 0
            if not run:
                if b:
                    if b1 and b2:
                        m |= np.uint32(1) << np.uint32(p + 1)
                        run = True
                    else:
                        m |= np.uint32(1) << np.uint32(p)
            elif b == 0:
                if b1:
                    m |= np.uint32(1) << np.uint32(p)
            elif b1 == 0 and b2 == 0:
                m |= np.uint32(1) << np.uint32(p)
                run = False
        out[i] = m
    return out.reshape(mags.shape)


def _booth_terms_ref(value: int) -> list[tuple[int, int]]:
    """The recoding rule of :func:`_booth_terms` for one magnitude, written plainly:
    -> [(position, sign)] from the highest position down; sum(sign * 2**p) == value."""
    def bit(p: int) -> int:
        return (value >> p) & 1 if p >= 0 else 0

    terms: list[tuple[int, int]] = []
    in_run = False
    for p in range(15, -1, -1):
        if not in_run:
            if bit(p) and bit(p - 1) and bit(p - 2):
                terms.append((p + 1, +1))
                in_run = True
            elif bit(p):
                terms.append((p, +1))
        elif bit(p) == 0 and bit(p - 1) == 1:
            terms.append((p, -1))
        elif bit(p) == 1 and bit(p - 1) == 0 and bit(p - 2) == 0:
            terms.append((p, -1))
            in_run = False
    return terms


@numba.njit(cache=True)
def _tcle_pe(buf, n, window):
    """Cycles of one TCLe PE whose lanes hold the term masks ``buf[:n]`` (consumed; empty
    lanes may be 0).

    Each cycle: ``o`` = the lowest pending term over the lanes; every lane retires its lowest
    term if it is ``<= o + window - 1`` (``window = 2**bits_first_stage``).  Repeats until every
    lane is empty; 0 for no terms.  ``o`` grows strictly every cycle, so the count is at most the
    number of distinct term positions over the lanes.  The lane update is branch-free
    (``m ^= lowest_bit(m) & below(o + window)``) so that it vectorises.
    """
    orv = np.uint32(0)
    for i in range(n):
        orv |= np.uint32(buf[i])
    cycles = 0
    while orv != 0:
        low = np.uint64(orv & (~orv + np.uint32(1)))
        o = _lowest_lane(low)
        lim = np.uint32((_ONE << np.uint64(o + window)) - _ONE)
        orv = np.uint32(0)
        for i in range(n):
            m = np.uint32(buf[i])
            m ^= (m & (~m + np.uint32(1))) & lim
            buf[i] = m
            orv |= m
        cycles += 1
    return cycles


def _tcle_pe_ref(lanes: list[list[int]], bits_first_stage: int) -> int:
    """:func:`_tcle_pe` written with one queue of term positions per lane (lowest first)."""
    queues = [sorted(q) for q in lanes if q]
    cycles = 0
    while any(queues):
        o = min(q[0] for q in queues if q)
        for q in queues:
            if q and q[0] <= o + 2 ** bits_first_stage - 1:
                q.pop(0)
        cycles += 1
    return cycles


@numba.njit(cache=True)
def _popcount32(x):
    """Set bits of a 32-bit value (SWAR, in int64 arithmetic so nothing wraps)."""
    x = np.int64(x) & 0xFFFFFFFF
    x = x - ((x >> 1) & 0x55555555)
    x = (x & 0x33333333) + ((x >> 2) & 0x33333333)
    x = (x + (x >> 4)) & 0x0F0F0F0F
    return ((x * 0x01010101) & 0xFFFFFFFF) >> 24


@numba.njit(cache=True)
def _schedule_sources(nonzero, offsets, lookahead, priority, lookaside, occupy_zeros):
    """Scheduled sources of every filter set for the bit-serial back ends.

    ``nonzero``: bool[sets, lines, rows, lanes] (the scheduled operand's non-zero mask).
    -> ``(steps int64[sets], src int32[sets, lines, rows, lanes])``: for step ``s <
    steps[set]`` and slot ``(row, lane)`` the flat position ``line * lanes + lane`` of the
    value whose partner the slot processes -- the slot's own weight's original (line, lane), a
    promoted weight bringing its own -- or -1 when the lane is idle: its weight was promoted
    away, or it holds a zero that stayed and ``occupy_zeros`` is false.  With ``occupy_zeros``
    a zero that stayed in slot ``(line t of step s, lane)`` occupies its lane at its own
    position (DNNsim).  Rows ``>= steps[set]`` are all -1.
    """
    sets, lines, rows, lanes = nonzero.shape
    dts, shifts, order, max_dt = _prepare(offsets, lanes, lookahead, priority, lookaside)
    mask = np.zeros((lines + max_dt, rows), np.uint64)
    oline = np.empty((lines + max_dt, rows, lanes), np.int32)
    olane = np.empty((lines + max_dt, rows, lanes), np.int32)
    line_buf = np.empty((lines, rows, lanes), np.int32)
    lane_buf = np.empty((lines, rows, lanes), np.int32)
    out_t = np.zeros(lines, np.int32)
    cand, bucket, count = _scratch(dts.shape[0], lanes)
    steps = np.zeros(sets, np.int64)
    src = np.full((sets, lines, rows, lanes), -1, np.int32)
    for s in range(sets):
        nz = nonzero[s]
        _fill_mask(nz, mask, lines, rows, lanes)
        for t in range(lines + max_dt):
            for r in range(rows):
                mask[t, r] = mask[t, r] if t < lines else _ZERO
                for lane in range(lanes):
                    if t < lines and nz[t, r, lane]:
                        oline[t, r, lane] = t
                        olane[t, r, lane] = lane
                    else:
                        oline[t, r, lane] = -1
                        olane[t, r, lane] = -1
        n = _schedule_set(mask, lines, rows, lanes, dts, shifts, order, lookahead, priority,
                          cand, bucket, count, True, oline, olane, line_buf, lane_buf, out_t)
        steps[s] = n
        for st in range(n):
            t = out_t[st]
            for r in range(rows):
                for lane in range(lanes):
                    sl = line_buf[st, r, lane]
                    if sl >= 0:
                        src[s, st, r, lane] = sl * lanes + lane_buf[st, r, lane]
                    elif occupy_zeros and not nz[t, r, lane]:
                        src[s, st, r, lane] = t * lanes + lane
    return steps, src


def _schedule_sources_ref(nonzero, offsets, lookahead, priority, lookaside, occupy_zeros):
    nonzero = np.asarray(nonzero, dtype=bool)
    sets, lines, rows, lanes = nonzero.shape
    steps = np.zeros(sets, np.int64)
    src = np.full((sets, lines, rows, lanes), -1, np.int32)
    for s in range(sets):
        n, sl, sn, step_line = _schedule_lines_ref(nonzero[s], offsets, lookahead, priority,
                                                   lookaside)
        steps[s] = n
        for st, t in enumerate(step_line):
            for r in range(rows):
                for lane in range(lanes):
                    if sl[st, r, lane] >= 0:
                        src[s, st, r, lane] = sl[st, r, lane] * lanes + sn[st, r, lane]
                    elif occupy_zeros and not nonzero[s, t, r, lane]:
                        src[s, st, r, lane] = t * lanes + lane
    return steps, src


@numba.njit(cache=True)
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


@numba.njit(cache=True)
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


@numba.njit(cache=True)
def _step_unions(src, steps, s0, s1, n_steps):
    """Per step of the round made of sets ``s0:s1``: the distinct active positions over all
    its slots and how many slots read each.  -> (size[n_steps], pos[n_steps, u], mult)."""
    lanes = src.shape[3]
    rows = src.shape[2]
    positions = src.shape[1] * lanes
    seen = np.full(positions, -1, np.int64)
    size = np.zeros(n_steps, np.int64)
    for s in range(n_steps):
        for st in range(s0, s1):
            if s < steps[st]:
                for r in range(rows):
                    for lane in range(lanes):
                        pos = src[st, s, r, lane]
                        if pos >= 0 and seen[pos] != s:
                            seen[pos] = s
                            size[s] += 1
    width = 1
    for s in range(n_steps):
        width = max(width, size[s])
    upos = np.zeros((n_steps, width), np.int64)
    umul = np.zeros((n_steps, width), np.int64)
    slot = np.full(positions, -1, np.int64)
    for s in range(n_steps):
        u = 0
        for st in range(s0, s1):
            if s < steps[st]:
                for r in range(rows):
                    for lane in range(lanes):
                        pos = src[st, s, r, lane]
                        if pos < 0:
                            continue
                        if seen[pos] != -2 - s:
                            seen[pos] = -2 - s
                            slot[pos] = u
                            upos[s, u] = pos
                            u += 1
                        umul[s, slot[pos]] += 1
    return size, upos, umul


@numba.njit(cache=True)
def _tcle_column(buf, n_pe, window, orv, lim):
    """Cycles of the slowest of ``n_pe`` TCLe PEs run side by side: ``buf[lane, pe]`` holds the
    term masks (consumed; 0 for an idle lane).  The same rule as :func:`_tcle_pe`, every PE
    stepping in lockstep (a finished PE stays empty), so the count is ``max`` over the PEs of
    their :func:`_tcle_pe`.  Laid out PE-fastest and without ``o`` itself -- the retire mask is
    ``(lowest_bit(OR of the lanes) << window) - 1`` -- so that the loops vectorise.
    ``orv``, ``lim``: uint32 scratch of >= ``n_pe``."""
    lanes = buf.shape[0]
    one = np.uint32(1)
    cycles = 0
    while True:
        for q in range(n_pe):
            orv[q] = 0
        for lane in range(lanes):
            for q in range(n_pe):
                orv[q] |= buf[lane, q]
        pending = np.uint32(0)
        for q in range(n_pe):
            v = orv[q]
            pending |= v
            # bits below o + window (all bits when that passes bit 31: the shift wraps to 0)
            lim[q] = ((v & (~v + one)) << np.uint32(window)) - one
        if pending == 0:
            return cycles
        cycles += 1
        for lane in range(lanes):
            for q in range(n_pe):
                m = buf[lane, q]
                buf[lane, q] = m ^ ((m & (~m + one)) & lim[q])


@numba.njit(cache=True)
def _serial_filters(src, steps, codes, n_windows, tiles, columns, mode, window, registers):
    """Bit-serial cycles with the filter operand scheduled.

    ``src``/``steps`` from :func:`_schedule_sources` (sets of ``rows`` filters, ``tiles`` sets
    per round), ``codes``: uint32[n_windows, lines * lanes] (precisions for ``mode`` TCLP,
    term masks for TCLE), ``window = 2**bits_first_stage``, ``registers``: column registers
    (TCLp synchronises every step).  -> ``(block int64[rounds, window sets], lane_ops)``.
    TCLe columns run their filters' PEs side by side (:func:`_tcle_column`).
    """
    sets, lines, rows, lanes = src.shape
    positions = lines * lanes
    rounds = (sets + tiles - 1) // tiles
    wsets = (n_windows + columns - 1) // columns
    block = np.zeros((rounds, wsets), np.int64)
    if mode == TCLP:
        registers = 0
    # the window codes with a trailing 0: idle slots read position ``positions``
    padded = np.zeros((n_windows, positions + 1), np.uint32)
    for w in range(n_windows):
        for i in range(positions):
            padded[w, i] = codes[w, i]
    n_pe = tiles * rows
    buf = np.zeros((lanes, n_pe), np.uint32)
    orv = np.zeros(n_pe, np.uint32)
    lim = np.zeros(n_pe, np.uint32)
    finish = np.zeros(columns, np.int64)
    hist = np.zeros(registers + 1, np.int64)
    cost = np.ones(columns, np.int64)
    active = np.zeros(columns, np.int64)
    ops = np.int64(0)
    j = 0
    top = np.int64(0)
    for rnd in range(rounds):
        s0 = rnd * tiles
        s1 = min(sets, s0 + tiles)
        n_steps = 0
        for st in range(s0, s1):
            n_steps = max(n_steps, steps[st])
        size, upos, umul = _step_unions(src, steps, s0, s1, n_steps)
        # gather index of every (step, lane, PE) of the round
        pes = (s1 - s0) * rows
        index = np.full((n_steps, lanes, pes), positions, np.int64)
        for s in range(n_steps):
            for st in range(s0, s1):
                if s < steps[st]:
                    for r in range(rows):
                        for lane in range(lanes):
                            pos = src[st, s, r, lane]
                            if pos >= 0:
                                index[s, lane, (st - s0) * rows + r] = pos
        for ws in range(wsets):
            before = top
            for s in range(n_steps):
                for c in range(columns):
                    w = ws * columns + c
                    cost[c] = 1
                    active[c] = 0
                    if w >= n_windows:
                        continue
                    if mode == TCLP:
                        for i in range(size[s]):
                            code = np.int64(codes[w, upos[s, i]])
                            if code > 0:
                                active[c] += umul[s, i]
                                cost[c] = max(cost[c], code)
                        continue
                    for i in range(size[s]):
                        ops += umul[s, i] * _popcount32(codes[w, upos[s, i]])
                    row = padded[w]
                    for lane in range(lanes):
                        for q in range(pes):
                            buf[lane, q] = row[index[s, lane, q]]
                    cost[c] = max(1, _tcle_column(buf, pes, window, orv, lim))
                if mode == TCLP:
                    ops += _sync_columns(cost, active, columns)
                top = _advance(cost, columns, finish, hist, j, registers)
                j += 1
            block[rnd, ws] = top - before
    return block, ops


@numba.njit(cache=True)
def _serial_windows(src, steps, codes, filt, n_filters, filters_per_round, mode, window,
                    registers, skip_zero_weights):
    """Bit-serial cycles with the window operand scheduled (sets of ``columns`` windows, the
    filters stream, ``filters_per_round = tiles * rows`` of them per round).

    ``src``/``steps`` from :func:`_schedule_sources` on the windows (``rows`` = columns);
    ``codes``: uint32[n_windows, lines * lanes]; ``filt``: bool[n_filters, lines * lanes], the
    filter operand's non-zero mask, read when ``skip_zero_weights`` (then a lane is active only
    where the streamed filter is non-zero, and each filter is its own PE; otherwise every filter
    of a round sees the same lanes).  -> ``(block int64[rounds, window sets], lane_ops)``.
    """
    wsets, lines, columns, lanes = src.shape
    n_windows = codes.shape[0]
    rounds = (n_filters + filters_per_round - 1) // filters_per_round
    block = np.zeros((rounds, wsets), np.int64)
    if mode == TCLP:
        registers = 0
    finish = np.zeros(columns, np.int64)
    hist = np.zeros(registers + 1, np.int64)
    buf = np.zeros(lanes, np.uint32)
    cost = np.ones(columns, np.int64)
    active = np.zeros(columns, np.int64)
    ops = np.int64(0)
    j = 0
    top = np.int64(0)
    for rnd in range(rounds):
        f0 = rnd * filters_per_round
        f1 = min(n_filters, f0 + filters_per_round)
        for ws in range(wsets):
            before = top
            for s in range(steps[ws]):
                for c in range(columns):
                    w = ws * columns + c
                    cost[c] = 1
                    active[c] = 0
                    if w >= n_windows:
                        continue
                    best = 1
                    for f in range(f0, f1 if skip_zero_weights else f0 + 1):
                        n = 0
                        orv = np.uint32(0)
                        users = 0
                        for lane in range(lanes):
                            pos = src[ws, s, c, lane]
                            if pos < 0 or (skip_zero_weights and not filt[f, pos]):
                                continue
                            m = codes[w, pos]
                            if m != 0:
                                users += 1
                                if mode == TCLP:
                                    best = max(best, np.int64(m))
                                else:
                                    ops += _popcount32(m) * (1 if skip_zero_weights else f1 - f0)
                                    buf[n] = m
                                    n += 1
                                    orv |= m
                        active[c] += users * (1 if skip_zero_weights else f1 - f0)
                        if mode == TCLE and n > 0 and _popcount32(orv) > best:
                            best = max(best, _tcle_pe(buf, n, window))
                    cost[c] = best
                if mode == TCLP:
                    ops += _sync_columns(cost, active, columns)
                top = _advance(cost, columns, finish, hist, j, registers)
                j += 1
            block[rnd, ws] = top - before
    return block, ops


def _recurrence_ref(costs: list[list[int]], registers: int) -> list[int]:
    """max_c finish after every global step, for per-step column costs ``costs[j][c]``."""
    finish = [0] * (len(costs[0]) if costs else 0)
    tops: list[int] = []
    for j, step in enumerate(costs):
        gate = tops[j - 1 - registers] if j - 1 - registers >= 0 else 0
        finish = [max(f, gate) + c for f, c in zip(finish, step, strict=True)]
        tops.append(max(finish))
    return tops


def _serial_ref(kind: str, pe_lanes, n_rounds: int, n_wsets: int, columns: int, registers: int,
                bits_first_stage: int):
    """Shared reference driver: ``pe_lanes(rnd, ws, s, c)`` -> None past the round's steps,
    else a list of PEs, each the list of the active lanes' codes (precision or term list).
    -> (block[rounds, wsets], lane_ops)."""
    steps_costs: list[list[int]] = []
    marks: list[tuple[int, int, int]] = []
    ops = 0
    for rnd in range(n_rounds):
        for ws in range(n_wsets):
            s = 0
            while True:
                per_col = [pe_lanes(rnd, ws, s, c) for c in range(columns)]
                if all(p is None for p in per_col):
                    break
                costs = []
                for pes in per_col:
                    pes = pes or []
                    if kind == "tclp":
                        costs.append(max([1] + [v for pe in pes for v in pe]))
                    else:
                        costs.append(max([1] + [_tcle_pe_ref([list(q) for q in pe],
                                                             bits_first_stage) for pe in pes]))
                        ops += sum(len(q) for pe in pes for q in pe)
                if kind == "tclp":
                    step = max(costs)
                    ops += step * sum(1 for pes in per_col for pe in (pes or []) for v in pe
                                      if v > 0)
                    costs = [step] * columns
                steps_costs.append(costs)
                s += 1
            marks.append((rnd, ws, len(steps_costs)))
    tops = _recurrence_ref(steps_costs, 0 if kind == "tclp" else registers)
    block = np.zeros((n_rounds, n_wsets), np.int64)
    prev = 0
    for rnd, ws, end in marks:
        now = tops[end - 1] if end else 0
        block[rnd, ws] = now - prev
        prev = now
    return block, ops


def _terms_list(mask: int) -> list[int]:
    return [p for p in range(32) if (int(mask) >> p) & 1]


def _serial_filters_ref(src, steps, codes, n_windows, tiles, columns, mode, window, registers):
    src = np.asarray(src)
    sets, _, rows, lanes = src.shape
    rounds = -(-sets // tiles)
    kind = "tclp" if mode == TCLP else "tcle"

    def pe_lanes(rnd, ws, s, c):
        members = range(rnd * tiles, min(sets, rnd * tiles + tiles))
        if s >= max(int(steps[m]) for m in members):
            return None
        w = ws * columns + c
        if w >= n_windows:
            return []
        pes = []
        for m in members:
            if s >= steps[m]:
                continue
            for r in range(rows):
                vals = [int(codes[w, p]) for p in src[m, s, r] if p >= 0 and codes[w, p]]
                pes.append(vals if kind == "tclp" else [_terms_list(v) for v in vals])
        return pes

    return _serial_ref(kind, pe_lanes, rounds, -(-n_windows // columns), columns, registers,
                       int(np.log2(window)))


def _serial_windows_ref(src, steps, codes, filt, n_filters, filters_per_round, mode, window,
                        registers, skip_zero_weights):
    src = np.asarray(src)
    wsets, _, columns, lanes = src.shape
    n_windows = codes.shape[0]
    kind = "tclp" if mode == TCLP else "tcle"

    def pe_lanes(rnd, ws, s, c):
        if s >= steps[ws]:
            return None
        w = ws * columns + c
        if w >= n_windows:
            return []
        pes = []
        for f in range(rnd * filters_per_round, min(n_filters, (rnd + 1) * filters_per_round)):
            vals = [int(codes[w, p]) for p in src[ws, s, c]
                    if p >= 0 and codes[w, p] and (not skip_zero_weights or filt[f, p])]
            pes.append(vals if kind == "tclp" else [_terms_list(v) for v in vals])
        return pes

    return _serial_ref(kind, pe_lanes, -(-n_filters // filters_per_round), wsets, columns,
                       registers, int(np.log2(window)))


# --------------------------------------------------------------------------------------------
# SCNN: Cartesian-product PEs with accumulator-bank conflicts (Parashar et al., ISCA 2017)
# --------------------------------------------------------------------------------------------
# Work of one problem (built by :func:`accelsim.arrays.others.scnn_problems`), in CSR form:
#
# * weights, sorted by (group g, reduction channel c, output channel k, r, s): the non-zeros of
#   (g, c) are ``w_k/w_r/w_s[w_ptr[g*C + c]:w_ptr[g*C + c + 1]]``; group g holds the output
#   channels ``[g*Kc, (g+1)*Kc)``;
# * activations, sorted by (PE p, channel c, y, x): the non-zeros of (p, c) are
#   ``a_y/a_x[a_ptr[p*C + c]:a_ptr[p*C + c + 1]]``;
# * ``geo = (C, G, P, F, I, A, Kc, OH, OW, my, by, cy, dy, mx, bx, cx, dx)``: a product of
#   weight (k, r, s) and activation (y, x) lands on output row ``oy = (y*my + r*by + cy) / dy``
#   (likewise ox) when the division is exact and ``0 <= oy < OH`` (``0 <= ox < OW``); other
#   products are computed and dropped.  Its accumulator bank is
#   ``((k mod Kc) * OH * OW + oy * OW + ox) mod A`` (the linear address of the output in the
#   PE's accumulator buffer of Kc planes, banks interleaved on the low-order address bits).
#
# Per PE, group and channel the PE takes the weights F at a time and, for each such vector,
# the activations I at a time (input stationary, weights streamed); one (F, I) pair of
# vectors costs ``max(1, largest number of kept products meeting in one bank)`` cycles (the
# F x I products go through the crossbar; a bank takes one product per cycle, so a conflict
# stalls the PE).  The PEs synchronise after every output-channel group:
# ``cycles = sum_g max_p cycles(g, p)``.  Returns ``(group_cycles[G], products, kept,
# vector_pairs)``: cycles per group, Cartesian products computed, products kept (landing on an
# output: the effectual MACs), and (F, I) vector pairs processed (= cycles without conflicts).


@numba.njit(cache=True)
def _scnn_cycles(w_ptr, w_k, w_r, w_s, a_ptr, a_y, a_x, geo):
    n_c, n_g, n_p, f_vec, i_vec, banks, kc = geo[0], geo[1], geo[2], geo[3], geo[4], geo[5], geo[6]
    oh, ow = geo[7], geo[8]
    my, by, cy, dy, mx, bx, cx, dx = geo[9], geo[10], geo[11], geo[12], geo[13], geo[14], \
        geo[15], geo[16]
    group_cycles = np.zeros(n_g, np.int64)
    load = np.zeros(banks, np.int64)
    touched = np.zeros(f_vec * i_vec, np.int64)
    products = 0
    kept = 0
    pairs = 0
    for g in range(n_g):
        worst = 0
        for p in range(n_p):
            cycles = 0
            for c in range(n_c):
                w0, w1 = w_ptr[g * n_c + c], w_ptr[g * n_c + c + 1]
                a0, a1 = a_ptr[p * n_c + c], a_ptr[p * n_c + c + 1]
                if w0 == w1 or a0 == a1:
                    continue
                for i0 in range(w0, w1, f_vec):
                    i1 = min(w1, i0 + f_vec)
                    for j0 in range(a0, a1, i_vec):
                        j1 = min(a1, j0 + i_vec)
                        products += (i1 - i0) * (j1 - j0)
                        pairs += 1
                        n_t = 0
                        worst_bank = 0
                        for i in range(i0, i1):
                            for j in range(j0, j1):
                                ny = a_y[j] * my + w_r[i] * by + cy
                                nx = a_x[j] * mx + w_s[i] * bx + cx
                                if ny < 0 or nx < 0 or ny % dy != 0 or nx % dx != 0:
                                    continue
                                oy = ny // dy
                                ox = nx // dx
                                if oy >= oh or ox >= ow:
                                    continue
                                kept += 1
                                b = ((w_k[i] % kc) * oh * ow + oy * ow + ox) % banks
                                if load[b] == 0:
                                    touched[n_t] = b
                                    n_t += 1
                                load[b] += 1
                                if load[b] > worst_bank:
                                    worst_bank = load[b]
                        for t in range(n_t):
                            load[touched[t]] = 0
                        cycles += max(1, worst_bank)
            worst = max(worst, cycles)
        group_cycles[g] = worst
    return group_cycles, products, kept, pairs


def _scnn_cycles_ref(w_ptr, w_k, w_r, w_s, a_ptr, a_y, a_x, geo):
    """numpy reference of :func:`_scnn_cycles`: each (F, I) vector pair's products at once."""
    n_c, n_g, n_p, f_vec, i_vec, banks, kc, oh, ow = (int(v) for v in geo[:9])
    my, by, cy, dy, mx, bx, cx, dx = (int(v) for v in geo[9:17])
    group_cycles = np.zeros(n_g, np.int64)
    products = kept = pairs = 0
    for g in range(n_g):
        per_pe = []
        for p in range(n_p):
            cycles = 0
            for c in range(n_c):
                ws = np.arange(w_ptr[g * n_c + c], w_ptr[g * n_c + c + 1])
                acts = np.arange(a_ptr[p * n_c + c], a_ptr[p * n_c + c + 1])
                for wv in (ws[i:i + f_vec] for i in range(0, ws.size, f_vec)):
                    for av in (acts[j:j + i_vec] for j in range(0, acts.size, i_vec)):
                        wi, aj = np.meshgrid(wv, av, indexing="ij")
                        ny = a_y[aj] * my + w_r[wi] * by + cy
                        nx = a_x[aj] * mx + w_s[wi] * bx + cx
                        ok = (ny >= 0) & (nx >= 0) & (ny % dy == 0) & (nx % dx == 0)
                        ok &= (ny // dy < oh) & (nx // dx < ow)
                        bank = ((w_k[wi] % kc) * oh * ow + (ny // dy) * ow + nx // dx) % banks
                        counts = np.bincount(bank[ok], minlength=banks)
                        cycles += max(1, int(counts.max()))
                        products += wi.size
                        kept += int(ok.sum())
                        pairs += 1
            per_pe.append(cycles)
        group_cycles[g] = max(per_pe) if per_pe else 0
    return group_cycles, products, kept, pairs
