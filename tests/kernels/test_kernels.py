"""Numba kernels against their plain-python references, hand-computed schedules and properties.

Bit-Tactical scheduler (accelsim.kernels.scheduler): buffers are nonzero[lines, rows, lanes] per set.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.kernels.scheduler import _chain_order, _schedule_detail, _schedule_steps
from accelsim.kernels.scheduler_ref import (
    _chain_order_ref,
    _schedule_detail_ref,
    _schedule_steps_ref,
)


def _offsets(pairs) -> np.ndarray:
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def _l_shape(h: int, d: int) -> np.ndarray:
    """L<h,d> = (1,-d) .. (1,-1), (1,0), (2,0) .. (h,0)."""
    return _offsets([(1, -x) for x in range(d, 0, -1)] + [(dt, 0) for dt in range(1, h + 1)])


# name -> (offsets, lookahead h)
SHAPES = {
    "T<2,5>": (_offsets([(1, -1), (1, 0), (1, 1), (1, 3), (2, -2), (2, 0), (2, 2)]), 2),
    "L<1,0>": (_l_shape(1, 0), 1),
    "L<2,3>": (_l_shape(2, 3), 2),
    "L<4,2>": (_l_shape(4, 2), 4),
    "dense": (_offsets([]), 0),
    "dense,h=2": (_offsets([]), 2),  # no promotion, all-zero lines skipped (at most 2 in a row)
}
PRIORITIES = (0, 1, 2)


def _random_set(rng, lines, rows, lanes, density):
    return rng.random((lines, rows, lanes)) < density


def _assert_same_detail(nonzero, offsets, h, priority):
    steps, src_line, src_lane = _schedule_detail(nonzero, offsets, h, priority)
    r_steps, r_line, r_lane = _schedule_detail_ref(nonzero, offsets, h, priority)
    assert steps == r_steps
    assert src_line.dtype == np.int32 and src_lane.dtype == np.int32
    np.testing.assert_array_equal(src_line, r_line)
    np.testing.assert_array_equal(src_lane, r_lane)
    return steps, src_line, src_lane


# ------------------------------------------------------------------------------------------
# kernels == references
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("priority", PRIORITIES)
def test_detail_matches_reference_seeded(shape, priority):
    offsets, h = SHAPES[shape]
    rng = np.random.default_rng([7, priority, list(SHAPES).index(shape)])
    for _ in range(60):
        lines = int(rng.integers(1, 13))
        rows = int(rng.integers(1, 5))
        lanes = int(rng.integers(4, 17))
        density = float(rng.choice([0.0, 1.0, rng.random()], p=[0.1, 0.1, 0.8]))
        nonzero = _random_set(rng, lines, rows, lanes, density)
        _assert_same_detail(nonzero, offsets, h, priority)


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("priority", PRIORITIES)
def test_batched_steps_match_reference(shape, priority):
    offsets, h = SHAPES[shape]
    rng = np.random.default_rng([11, priority, list(SHAPES).index(shape)])
    for lines, rows, lanes in [(12, 4, 16), (7, 3, 5), (1, 2, 4)]:
        density = rng.random((30, 1, 1, 1))  # a different density per set
        nonzero = rng.random((30, lines, rows, lanes)) < density
        steps = _schedule_steps(nonzero, offsets, h, priority)
        assert steps.dtype == np.int64 and steps.shape == (30,)
        np.testing.assert_array_equal(steps, _schedule_steps_ref(nonzero, offsets, h, priority))
        # the batched kernel and the single-set kernel agree
        singles = [_schedule_detail(s, offsets, h, priority)[0] for s in nonzero]
        np.testing.assert_array_equal(steps, singles)


@settings(max_examples=300, deadline=None)
@given(lines=st.integers(1, 12), rows=st.integers(1, 4), lanes=st.integers(4, 16),
       density=st.floats(0.0, 1.0), seed=st.integers(0, 2**32 - 1),
       shape=st.sampled_from(list(SHAPES)), priority=st.sampled_from(PRIORITIES))
def test_detail_matches_reference_hypothesis(lines, rows, lanes, density, seed, shape, priority):
    offsets, h = SHAPES[shape]
    nonzero = _random_set(np.random.default_rng(seed), lines, rows, lanes, density)
    _assert_same_detail(nonzero, offsets, h, priority)


def test_wide_lanes_match_reference():
    """64 lanes (the kernel's bit-mask limit) and a lane count that is not a power of two."""
    offsets, h = SHAPES["T<2,5>"]
    rng = np.random.default_rng(5)
    for lanes in (64, 33, 63):
        for priority in PRIORITIES:
            _assert_same_detail(_random_set(rng, 6, 2, lanes, 0.3), offsets, h, priority)


# ------------------------------------------------------------------------------------------
# hand-computed schedules (lines = 4, lanes = 2, rows = 1 or 2)
# ------------------------------------------------------------------------------------------

X = -1  # a zero slot in the expected detail


def _check_hand(buffer, offsets, h, priority, steps, detail):
    """buffer[line][filter][lane] in {0, 1}; detail[step][filter][lane] = (line, lane) | X."""
    nonzero = np.array(buffer, dtype=bool)
    if nonzero.ndim == 2:  # one filter
        nonzero = nonzero[:, None, :]
        detail = [[slots] for slots in detail]
    src_line = np.full(nonzero.shape, -1, np.int32)
    src_lane = np.full(nonzero.shape, -1, np.int32)
    for s, filters in enumerate(detail):
        for r, slots in enumerate(filters):
            for lane, slot in enumerate(slots):
                if slot != X:
                    src_line[s, r, lane], src_lane[s, r, lane] = slot
    got = _assert_same_detail(nonzero, _offsets(offsets), h, priority)
    assert got[0] == steps
    np.testing.assert_array_equal(got[1], src_line)
    np.testing.assert_array_equal(got[2], src_lane)
    assert _schedule_steps(nonzero[None], _offsets(offsets), h, priority)[0] == steps


@pytest.mark.parametrize("priority", PRIORITIES)
def test_hand_skip_limit(priority):
    # L<1,0> = (1,0), h = 1. Buffer (line: lane0 lane1):
    #   0: 0 0   all zero, 0 skipped before < h=1        -> skipped (counter 1)
    #   1: 0 0   all zero, but 1 skipped before (= h)    -> scheduled, step 0; lane 0's only
    #            candidate (2,0) is zero, so the step is empty            (counter 0)
    #   2: 0 0   all zero, counter 0 < 1                 -> skipped (counter 1)
    #   3: 1 1   non-zero                                -> scheduled, step 1
    # steps = 2 (unlimited skipping would give 1)
    _check_hand([[0, 0], [0, 0], [0, 0], [1, 1]], [(1, 0)], 1, priority,
                steps=2, detail=[[X, X], [(3, 0), (3, 1)]])


@pytest.mark.parametrize("priority", PRIORITIES)
def test_hand_zero_line_is_skipped_before_it_could_be_filled(priority):
    # L<2,1> = (1,-1), (1,0), (2,0), h = 2; one filter: line 0: 0 0 | 1: 1 0 | 2: 0 1 | 3: 1 1
    # t=0: all zero and counter 0 < 2 -> skipped, although (1,0) and (2,1) could fill it.
    # t=1: lane 1's candidates (2,0)=0, (2,1)=1, (3,1)=1 -> takes (2,1). Step 0 = [(1,0), (2,1)]
    # t=2: now all zero -> skipped. t=3: [1 1] -> step 1.                   steps = 2
    _check_hand([[0, 0], [1, 0], [0, 1], [1, 1]], [(1, -1), (1, 0), (2, 0)], 2, priority,
                steps=2, detail=[[(1, 0), (2, 1)], [(3, 0), (3, 1)]])


# Two filters, L<2,1> = (1,-1), (1,0), (2,0), h = 2, lanes wrap (lane 0 + (-1) -> lane 1).
#            line 0    line 1    line 2    line 3
# filter 0:   0 0       1 0       0 1       1 1
# filter 1:   1 1       0 0       0 0       0 0      (keeps line 0 from being skipped)
# Filter 0's candidates at t=0: lane 0: (1,1)=0, (1,0)=1, (2,0)=0 -> 1 candidate [(1,0)]
#                               lane 1: (1,0)=1, (1,1)=0, (2,1)=1 -> 2 candidates [(1,0), (2,1)]
# Filter 1 has no zero slot at t=0 and no non-zero after line 0.
HAND_FLEX = [[[0, 0], [1, 1]], [[1, 0], [0, 0]], [[0, 1], [0, 0]], [[1, 1], [0, 0]]]
HAND_FLEX_OFFSETS = [(1, -1), (1, 0), (2, 0)]
F1 = [(0, 0), (0, 1)]  # filter 1 at step 0


def test_hand_least_flexible():
    # t=0: lane 0 (1 candidate) first, takes (1,0); recount lane 1: (1,0) is gone, (2,1) left
    #      -> takes (2,1). Step 0 = [(1,0), (2,1)] | F1; lines 1 and 2 are now all zero.
    # t=1, t=2: all zero, skipped (counter 1, 2). t=3: filter 0 = [1 1] -> step 1.
    _check_hand(HAND_FLEX, HAND_FLEX_OFFSETS, 2, 0, steps=2,
                detail=[[[(1, 0), (2, 1)], F1], [[(3, 0), (3, 1)], [X, X]]])


def test_hand_most_flexible():
    # t=0: lane 1 (2 candidates) first, takes its first one (1,0) (offset (1,-1)); recount
    #      lane 0: (1,1)=0, (1,0) now 0, (2,0)=0 -> nothing. Step 0 = [X, (1,0)] | F1.
    # t=1: line 1 = all zero -> skipped (counter 1).
    # t=2: filter 0 = [0 1] -> scheduled; lane 0: (3,1)=1 via wrap-around, (3,0)=1 -> takes
    #      (3,1). Step 1 = [(3,1), (2,1)] | [X X].
    # t=3: filter 0 = [1 0] -> scheduled; lane 1's candidates lie beyond the last line.
    #      Step 2 = [(3,0), X] | [X X].                 steps = 3 (least-flexible: 2)
    _check_hand(HAND_FLEX, HAND_FLEX_OFFSETS, 2, 1, steps=3,
                detail=[[[X, (1, 0)], F1], [[(3, 1), (2, 1)], [X, X]],
                        [[(3, 0), X], [X, X]]])


def test_hand_non_overlapping():
    # d = max|dl| = 1, chain order for 2 lanes: [0, 1]. t=0: lane 0 takes its first candidate
    # (1,0); lane 1: (1,0) gone, (1,1)=0, (2,1)=1 -> takes (2,1). Same as least-flexible.
    assert list(_chain_order(2, 1)) == [0, 1]
    _check_hand(HAND_FLEX, HAND_FLEX_OFFSETS, 2, 2, steps=2,
                detail=[[[(1, 0), (2, 1)], F1], [[(3, 0), (3, 1)], [X, X]]])


@pytest.mark.parametrize("priority", PRIORITIES)
def test_hand_wrap_around(priority):
    # L<1,1> = (1,-1), (1,0), h = 1. Buffer: line 0: 0 1 | 1: 0 1 | 2: 0 0 | 3: 1 0
    # t=0: lane 0: (1,-1) wraps to (1, lane 1) = 1, (1,0) = 0 -> takes (1,1).
    #      Step 0 = [(1,1), (0,1)]; line 1 is now all zero.
    # t=1: all zero -> skipped (counter 1).
    # t=2: all zero but counter = h -> scheduled. lane 0: (3,1)=0, (3,0)=1; lane 1: (3,0)=1
    #      (wrap), (3,1)=0: one candidate each, tie -> lane 0 takes (3,0); lane 1 then has none.
    #      Step 1 = [(3,0), X].
    # t=3: now all zero, counter 0 -> skipped.                              steps = 2
    # (without the wrap lane 0 would have no candidate at t=0 and lines 0, 1 and 3 would all be
    # steps.)
    _check_hand([[0, 1], [0, 1], [0, 0], [1, 0]], [(1, -1), (1, 0)], 1, priority,
                steps=2, detail=[[(1, 1), (0, 1)], [(3, 0), X]])


def test_hand_dense_front_end():
    buffer = [[0, 0], [0, 0], [0, 1], [0, 0]]
    # no offsets, h = 0: nothing is ever skipped
    _check_hand(buffer, [], 0, 0, steps=4,
                detail=[[X, X], [X, X], [X, (2, 1)], [X, X]])
    # no offsets, h = 1: line 0 skipped, line 1 scheduled (cap), line 2 scheduled, line 3 skipped
    _check_hand(buffer, [], 1, 0, steps=2, detail=[[X, X], [X, (2, 1)]])


# ------------------------------------------------------------------------------------------
# properties
# ------------------------------------------------------------------------------------------


def _check_schedule_is_valid(nonzero, offsets, h, steps, src_line, src_lane):
    """The detail is a permutation of the non-zeros and each weight moved by an allowed offset
    to the step of a line t with orig_line - h <= t <= orig_line (lines strictly increasing)."""
    lines, rows, lanes = nonzero.shape
    assert (src_line[steps:] == -1).all() and (src_lane[steps:] == -1).all()
    np.testing.assert_array_equal(src_line == -1, src_lane == -1)
    seen = sorted((int(src_line[s, r, lane]), r, int(src_lane[s, r, lane]))
                  for s, r, lane in zip(*np.nonzero(src_line[:steps] >= 0), strict=True))
    assert seen == sorted(zip(*[a.tolist() for a in np.nonzero(nonzero)], strict=True))
    allowed = {(0, 0)} | {(int(dt), int(dl) % lanes) for dt, dl in offsets}
    previous = -1
    for s in range(steps):
        slots = list(zip(*np.nonzero(src_line[s] >= 0), strict=True))
        feasible = [t for t in range(previous + 1, lines)
                    if all(0 <= src_line[s, r, lane] - t <= h
                           and (int(src_line[s, r, lane]) - t,
                                (int(src_lane[s, r, lane]) - lane) % lanes) in allowed
                           for r, lane in slots)]
        assert feasible, f"step {s} fits no line after {previous}"
        previous = feasible[0]  # earliest feasible line keeps the most room for later steps


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("priority", PRIORITIES)
def test_detail_is_a_valid_permutation(shape, priority):
    offsets, h = SHAPES[shape]
    rng = np.random.default_rng([3, priority, list(SHAPES).index(shape)])
    for _ in range(40):
        lines, rows, lanes = int(rng.integers(1, 13)), int(rng.integers(1, 5)), int(
            rng.integers(4, 17))
        nonzero = _random_set(rng, lines, rows, lanes, rng.random())
        steps, src_line, src_lane = _schedule_detail(nonzero, offsets, h, priority)
        _check_schedule_is_valid(nonzero, offsets, h, steps, src_line, src_lane)


def test_validity_check_rejects_broken_schedules():
    offsets, h = SHAPES["L<2,3>"]
    nonzero = np.zeros((4, 1, 4), dtype=bool)
    nonzero[[0, 3], 0, 1] = True
    steps, src_line, src_lane = _schedule_detail(nonzero, offsets, h, 0)
    assert steps == 2  # lines 0 and 3 (lines 1 and 2 are skipped)
    _check_schedule_is_valid(nonzero, offsets, h, steps, src_line, src_lane)
    late = src_line.copy(), src_lane.copy()
    late[0][1, 0, 1], late[1][1, 0, 1] = late[0][0, 0, 1], late[1][0, 0, 1]  # (0,1) at step 1
    late[0][0, 0, 1] = late[1][0, 0, 1] = -1
    with pytest.raises(AssertionError):
        _check_schedule_is_valid(nonzero, offsets, h, steps, *late)
    lost = src_line.copy(), src_lane.copy()
    lost[0][0, 0, 1] = lost[1][0, 0, 1] = -1
    with pytest.raises(AssertionError):
        _check_schedule_is_valid(nonzero, offsets, h, steps, *lost)


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("priority", PRIORITIES)
def test_full_and_empty_buffers(shape, priority):
    offsets, h = SHAPES[shape]
    for lines in range(1, 13):
        full = np.ones((3, lines, 4, 16), dtype=bool)
        np.testing.assert_array_equal(_schedule_steps(full, offsets, h, priority), lines)
        # All zero: the rule skips h lines, schedules one, skips h, ... and also skips trailing
        # all-zero lines, so steps = floor(lines / (h + 1)), NOT ceil (lines = 1, h = 2 -> 0).
        empty = np.zeros((2, lines, 4, 16), dtype=bool)
        np.testing.assert_array_equal(_schedule_steps(empty, offsets, h, priority),
                                      lines // (h + 1))


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("priority", PRIORITIES)
def test_step_lower_bounds(shape, priority):
    # At most h skipped lines before, between and after scheduled ones:
    # lines <= steps + (steps + 1) h  =>  steps >= floor(lines / (h + 1)).
    # Each step processes at most `lanes` weights per filter: steps >= ceil(nnz_filter / lanes).
    offsets, h = SHAPES[shape]
    rng = np.random.default_rng([9, priority, list(SHAPES).index(shape)])
    for lines, rows, lanes in [(12, 4, 16), (9, 2, 5), (3, 1, 4)]:
        nonzero = rng.random((200, lines, rows, lanes)) < rng.random((200, 1, 1, 1))
        steps = _schedule_steps(nonzero, offsets, h, priority)
        assert (steps >= lines // (h + 1)).all()
        per_filter = nonzero.sum(axis=(1, 3))  # (sets, rows)
        assert (steps >= -(-per_filter.max(axis=1) // lanes)).all()
        assert (steps <= lines).all()


@pytest.mark.parametrize("shape", ["T<2,5>", "L<2,3>", "L<4,2>"])
def test_least_flexible_beats_most_flexible_in_aggregate(shape):
    offsets, h = SHAPES[shape]
    rng = np.random.default_rng(2019)
    for density in (0.1, 0.3, 0.6):
        nonzero = rng.random((300, 12, 4, 16)) < density
        least = _schedule_steps(nonzero, offsets, h, 0).sum()
        most = _schedule_steps(nonzero, offsets, h, 1).sum()
        assert least <= most, (density, least, most)


def test_no_promotion_with_l10_is_priority_independent():
    # L<1,0> has one candidate per slot: all three orders do the same takes
    offsets, h = SHAPES["L<1,0>"]
    nonzero = np.random.default_rng(4).random((100, 12, 4, 16)) < 0.3
    steps = [_schedule_steps(nonzero, offsets, h, p) for p in PRIORITIES]
    np.testing.assert_array_equal(steps[0], steps[1])
    np.testing.assert_array_equal(steps[0], steps[2])


def test_input_is_not_modified():
    offsets, h = SHAPES["T<2,5>"]
    nonzero = np.random.default_rng(8).random((5, 6, 2, 8)) < 0.4
    before = nonzero.copy()
    _schedule_steps(nonzero, offsets, h, 0)
    _schedule_detail(nonzero[0], offsets, h, 1)
    np.testing.assert_array_equal(nonzero, before)


def test_invalid_arguments():
    nonzero = np.zeros((1, 3, 1, 4), dtype=bool)
    offsets, h = SHAPES["T<2,5>"]
    with pytest.raises(ValueError):
        _schedule_steps(nonzero, offsets, h, 3)
    with pytest.raises(ValueError):
        _schedule_steps(nonzero, offsets, 1, 0)  # dt = 2 > lookahead
    with pytest.raises(ValueError):
        _schedule_steps(nonzero, _offsets([(0, 1)]), 1, 0)  # dt must be >= 1
    with pytest.raises(ValueError):
        _schedule_steps(np.zeros((1, 3, 1, 65), dtype=bool), offsets, h, 0)
    with pytest.raises(ValueError):
        _schedule_detail_ref(nonzero[0], offsets, h, 3)


# ------------------------------------------------------------------------------------------
# chain order of the non-overlapping scheduler
# ------------------------------------------------------------------------------------------


def test_chain_order_example():
    expected = [0, 5, 10, 1, 6, 11, 2, 7, 12, 3, 8, 13, 4, 9, 14, 15]
    assert _chain_order(16, 5).tolist() == expected
    assert _chain_order_ref(16, 5).tolist() == expected
    assert _chain_order(16, 5).dtype == np.int64


def test_chain_order_edge_cases_and_reference():
    assert _chain_order(16, 0).tolist() == list(range(16))
    assert _chain_order(4, 4).tolist() == [0, 1, 2, 3]  # d >= lanes: every chain is one lane
    assert _chain_order(4, 7).tolist() == [0, 1, 2, 3]
    assert _chain_order(16, 3).tolist()[:6] == [0, 3, 6, 9, 12, 1]
    for lanes in range(0, 20):
        for d in range(0, 22):
            order = _chain_order(lanes, d)
            assert sorted(order.tolist()) == list(range(lanes))
            np.testing.assert_array_equal(order, _chain_order_ref(lanes, d))


def test_non_overlapping_chains_use_the_front_ends_lookaside():
    # T<2,5>: max |dl| is 3 but the chains are spaced by d = 5 (0,5,10,1,6,11,...)
    rng = np.random.default_rng(11)
    offsets = _offsets([(1, -1), (1, 0), (1, 1), (1, 3), (2, -2), (2, 0), (2, 2)])
    nonzero = rng.random((20, 6, 3, 16)) < 0.3
    got = _schedule_steps(nonzero, offsets, 2, 2, 5)
    np.testing.assert_array_equal(got, _schedule_steps_ref(nonzero, offsets, 2, 2, 5))
    s, line, lane = _schedule_detail(nonzero[0], offsets, 2, 2, 5)
    r_s, r_line, r_lane = _schedule_detail_ref(nonzero[0], offsets, 2, 2, 5)
    assert s == r_s
    np.testing.assert_array_equal(line, r_line)
    np.testing.assert_array_equal(lane, r_lane)
