"""``serial_filters(..., carry=...)``: the columns go on from one problem to the next (a
layer's groups under ``[frontend] group_mapping = "dnnsim"``), exactly as the plain reference
(``_serial_filters_ref(..., carry=...)``) does, and a chain of one problem is the problem
alone."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.kernels.recoding import booth_terms, precisions
from accelsim.kernels.serial import TCLE, TCLP, _schedule_sources
from accelsim.kernels.serial_filters import column_state, serial_filters
from accelsim.kernels.serial_ref import _serial_filters_ref

T25 = np.array([(1, -1), (1, 0), (1, 1), (1, 3), (2, -2), (2, 0), (2, 2)], np.int64)


def _problem(rng, n_win, lanes=8):
    sets, lines, rows = int(rng.integers(1, 4)), int(rng.integers(1, 5)), 2
    mags = (rng.integers(0, 1 << 15, (n_win, lines * lanes))
            >> rng.integers(0, 15, (n_win, lines * lanes)))
    mags = (mags * (rng.random(mags.shape) < 0.6)).astype(np.uint16)
    nz = rng.random((sets, lines, rows, lanes)) < rng.uniform(0.1, 0.9)
    steps, src = _schedule_sources(nz, T25, 2, 0, 5, True)
    return src, steps, mags


@pytest.mark.parametrize("seed", range(6))
def test_chained_problems_match_the_reference(seed):
    rng = np.random.default_rng(700 + seed)
    tiles, columns, registers = int(rng.integers(1, 3)), int(rng.integers(1, 4)), 1 + seed % 2
    n_win = int(rng.integers(1, 8))
    problems = [_problem(rng, n_win) for _ in range(3)]
    for mode in (TCLP, TCLE):
        carry, ref_carry, total = column_state(columns, registers), {"finish": [], "tops": []}, 0
        for src, steps, mags in problems:
            codes = precisions(mags) if mode == TCLP else booth_terms(mags)
            got = serial_filters(src, steps, np.ascontiguousarray(codes.T), tiles, columns,
                                 mode, 4, registers, carry=carry)
            want = _serial_filters_ref(src, steps, codes, n_win, tiles, columns, mode, 4,
                                       registers, ref_carry)
            assert (got[0] == want[0]).all() and got[1] == want[1]
            alone = serial_filters(src, steps, np.ascontiguousarray(codes.T), tiles, columns,
                                   mode, 4, registers)
            assert got[0].sum() <= alone[0].sum()  # never slower than starting together
            total += int(got[0].sum())
        assert total == carry[-1]  # the blocks add up to the last finish


def test_carry_lets_a_column_run_ahead_across_problems():
    """One window a column, 2 columns, 1 register.  Problem 1: one step, column 0 costs 3 and
    column 1 costs 1; problem 2: the same step with the costs swapped.  Alone: 3 + 3 = 6.
    Chained, column 1 starts problem 2 at 1 (it may run one step ahead) and ends at 4, column
    0 at 3 + 1 = 4 -> 4 cycles."""
    src = np.full((1, 1, 1, 2), -1, np.int32)
    src[0, 0, 0] = [0, 1]
    steps = np.array([1])
    # TCLe term masks, one term retired a cycle (window 1): window 0 three terms, window 1 one
    first = np.array([[0b1001001, 0], [0b1, 0]], np.uint32)
    carry = column_state(2, 1)
    a = serial_filters(src, steps, np.ascontiguousarray(first.T), 1, 2, TCLE, 1, 1, carry=carry)
    b = serial_filters(src, steps, np.ascontiguousarray(first[::-1].T), 1, 2, TCLE, 1, 1,
                       carry=carry)
    assert int(a[0].sum()) == 3 and int(a[0].sum() + b[0].sum()) == 4
