"""Plain python references of the Bit-Tactical scheduler kernels (:mod:`accelsim.kernels.scheduler`):
the rule written the obvious way, for the tests to compare the numba kernels against."""

from __future__ import annotations

import numpy as np

from accelsim.kernels.scheduler import LEAST_FLEXIBLE, NON_OVERLAPPING


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
