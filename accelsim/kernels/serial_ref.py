"""Plain python references of the bit-serial kernels (:mod:`accelsim.kernels.serial`)."""

from __future__ import annotations

import numpy as np

from accelsim.kernels.scheduler_ref import _schedule_lines_ref
from accelsim.kernels.serial import TCLP


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


def _recurrence_ref(costs: list[list[int]], registers: int, carry: dict | None = None
                    ) -> list[int]:
    """max_c finish after every global step, for per-step column costs ``costs[j][c]``;
    ``carry`` ({"finish": [...], "tops": [...]}, updated): go on from a previous run."""
    carry = {"finish": [], "tops": []} if carry is None else carry
    finish = carry["finish"] or [0] * (len(costs[0]) if costs else 0)
    tops: list[int] = carry["tops"]
    first = len(tops)
    for j, step in enumerate(costs, start=first):
        gate = tops[j - 1 - registers] if j - 1 - registers >= 0 else 0
        finish = [max(f, gate) + c for f, c in zip(finish, step, strict=True)]
        tops.append(max(finish))
    carry["finish"] = finish
    return tops[first:]


def _serial_ref(kind: str, pe_lanes, n_rounds: int, n_wsets: int, columns: int, registers: int,
                bits_first_stage: int, carry: dict | None = None):
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
                    if pes == []:  # no window in this column: no work
                        costs.append(0)
                        continue
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
    start = carry["tops"][-1] if carry and carry["tops"] else 0
    tops = _recurrence_ref(steps_costs, 0 if kind == "tclp" else registers, carry)
    block = np.zeros((n_rounds, n_wsets), np.int64)
    prev = start
    for rnd, ws, end in marks:
        now = tops[end - 1] if end else start
        block[rnd, ws] = now - prev
        prev = now
    return block, ops


def _terms_list(mask: int) -> list[int]:
    return [p for p in range(32) if (int(mask) >> p) & 1]


def _serial_filters_ref(src, steps, codes, n_windows, tiles, columns, mode, window, registers,
                        carry=None):
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
                       int(np.log2(window)), carry)


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


def _serial_steps_ref(src, steps, codes, n_windows, tiles, columns, mode, window):
    """Reference of ``serial_filters(..., steps_to_columns=True)``: each window on its own,
    its steps (rounds, then steps) dealt round-robin to ``columns`` columns, one dispatch a
    cycle; a step costs its slowest PE (TCLp: largest precision), at least 1."""
    src = np.asarray(src)
    sets, _, rows, _ = src.shape
    rounds = -(-sets // tiles)
    wsets = -(-n_windows // columns)
    block = np.zeros((rounds, wsets), np.int64)
    ops = 0
    for w in range(n_windows):
        finish, clock, top, k = [0] * columns, 0, 0, 0
        for rnd in range(rounds):
            members = range(rnd * tiles, min(sets, rnd * tiles + tiles))
            before = top
            for s in range(max(int(steps[m]) for m in members)):
                pes = [[int(codes[w, p]) for p in src[m, s, r] if p >= 0 and codes[w, p]]
                       for m in members if s < steps[m] for r in range(rows)]
                if mode == TCLP:
                    cost = max([1] + [v for pe in pes for v in pe])
                    ops += cost * sum(len(pe) for pe in pes)
                else:
                    cost = max([1] + [_tcle_pe_ref([_terms_list(v) for v in pe],
                                                   int(np.log2(window))) for pe in pes])
                    ops += sum(len(_terms_list(v)) for pe in pes for v in pe)
                c = k % columns
                start = max(clock, finish[c])
                finish[c] = start + cost
                clock, top, k = start + 1, max(top, finish[c]), k + 1
            block[rnd, w // columns] += top - before
    return block, ops
