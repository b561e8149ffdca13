"""Bit-serial back ends (TCLp, TCLe): values, recoding, kernels against references, hand cases."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim import simulate_layer
from accelsim.errors import ConfigError
from accelsim.kernels.recoding import (
    _booth_terms,
    _booth_terms_ref,
    booth_terms,
    fixed_point_magnitudes,
    precisions,
    serial_codes,
)
from accelsim.kernels.serial import (
    TCLE,
    TCLP,
    _advance,
    _schedule_sources,
    _serial_windows,
    _tcle_pe,
)
from accelsim.kernels.serial_filters import _tcle_units, serial_filters
from accelsim.kernels.serial_ref import (
    _recurrence_ref,
    _schedule_sources_ref,
    _serial_filters_ref,
    _serial_windows_ref,
    _tcle_pe_ref,
    _terms_list,
)
from accelsim.spec.hardware import builtin_hardware, load_hardware
from accelsim.trace.schema import FIXED16_MAX, decode_values, encode_tensor

T25 = np.array([(1, -1), (1, 0), (1, 1), (1, 3), (2, -2), (2, 0), (2, 2)], np.int64)
ALL16 = np.arange(1 << 16, dtype=np.uint16)


# ---- values -----------------------------------------------------------------------------
def test_fixed_point_magnitudes_rule():
    x = np.array([0.0, -1.0, 0.5, 1e-9, 0.25, -0.0])
    assert fixed_point_magnitudes(x).tolist() == [0, 32767, 16384, 1, 8192, 0]
    assert fixed_point_magnitudes(x, 8).tolist() == [0, 127, 64, 1, 32, 0]
    assert fixed_point_magnitudes(np.zeros((2, 3))).tolist() == [[0] * 3] * 2
    assert fixed_point_magnitudes(np.array([True, False])).tolist() == [32767, 0]
    assert fixed_point_magnitudes(x).dtype == np.uint16
    for bad in (1, 17, 16.0, True):
        with pytest.raises(ConfigError, match="pe_bits"):
            fixed_point_magnitudes(x, bad)
    with pytest.raises(ConfigError, match="NaN"):
        fixed_point_magnitudes(np.array([1.0, np.nan]))


def test_fixed16_trace_values_come_back_exactly():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(5000).astype(np.float32) * np.float32(3e-3)
    x[rng.random(5000) < 0.4] = 0
    x[7] = np.float32(1e-12)  # below the format's step: stored as 1
    enc = encode_tensor(x, "fixed16", "t")
    decoded = np.zeros_like(x)
    decoded[x != 0] = decode_values(enc["values"], "fixed16", enc["scale"])
    mags = fixed_point_magnitudes(decoded, 16)
    assert mags[x != 0].tolist() == np.abs(enc["values"].astype(np.int64)).tolist()
    assert (mags[x == 0] == 0).all() and mags.max() == FIXED16_MAX and mags[7] == 1


def test_precisions_all_16_bit_values():
    got = precisions(ALL16)
    assert got.tolist() == [int(v).bit_length() for v in range(1 << 16)]


# ---- the TCLe recoding ---------------------------------------------------------------------
def test_recoding_against_the_rule_for_all_16_bit_values():
    masks = booth_terms(ALL16)
    for v in range(1 << 16):
        terms = _booth_terms_ref(v)
        assert int(masks[v]) == sum(1 << p for p, _ in terms), v
        assert sum(sign << p for p, sign in terms) == v, v  # signed powers of two of v


@pytest.mark.parametrize("value, terms", [
    (0, []), (1, [0]), (7, [3, 0]), (27, [4, 3, 1, 0]), (14, [4, 1]), (29, [5, 1, 0]),
    (32767, [15, 0]), (65535, [16, 0]), (0b1010101, [6, 4, 2, 0]),
])
def test_recoding_by_hand(value, terms):
    assert sorted(_terms_list(booth_terms(np.array([value]))[0]), reverse=True) == terms
    assert [p for p, _ in _booth_terms_ref(value)] == terms


def test_recoding_rejects_out_of_range():
    with pytest.raises(ConfigError):
        booth_terms(np.array([70000]))
    with pytest.raises(ValueError):
        _booth_terms(np.array([-1], np.int64))
    with pytest.raises(ConfigError):
        serial_codes(np.zeros((1, 1, 4), np.uint16), "tclx")


@pytest.mark.parametrize("top", [1 << 15, 1 << 16])
@pytest.mark.parametrize("kind", ["tclp", "tcle"])
def test_transposed_codes_are_the_codes_narrowed_where_they_fit(kind, top):
    rng = np.random.default_rng(top)
    mags = rng.integers(0, top, (7, 3, 4)).astype(np.uint16)
    want = serial_codes(mags, kind)
    got = serial_codes(mags, kind, transposed=True)
    assert got.flags.c_contiguous and (got == want.T).all()
    narrow = kind == "tclp" or top == 1 << 15
    assert got.dtype == (np.uint16 if narrow else np.uint32)


# ---- one PE ------------------------------------------------------------------------------
@pytest.mark.parametrize("lanes, k, cycles", [
    ([], 2, 0),
    ([[0, 3, 5, 9]], 2, 4),                 # one lane: one term per cycle
    ([[0, 3], [1, 2]], 2, 2),               # o=0 retires 0 and 1; o=2 retires 3 and 2
    ([[0, 3], [1, 2]], 0, 4),               # a one-position window: o = 0, 1, 2, 3
    ([[0], [4]], 2, 2),                     # 4 > 0 + 3: not in the first cycle
    ([[0], [3]], 2, 1),                     # 3 <= 0 + 3
    ([[0, 3], [0, 1, 3, 4], [0, 15]], 2, 5),  # 7, 27, 32767: o = 0, 1, 3, 4, 15
])
def test_tcle_pe_by_hand(lanes, k, cycles):
    assert _tcle_pe_ref([list(q) for q in lanes], k) == cycles
    buf = np.array([sum(1 << p for p in q) for q in lanes] or [0], np.uint64)
    assert _tcle_pe(buf, len(lanes), 1 << k) == cycles


def test_tcle_pe_kernel_matches_reference_and_bounds():
    rng = np.random.default_rng(1)
    terms = booth_terms(ALL16)
    prec = precisions(ALL16)
    for _ in range(400):
        n = int(rng.integers(1, 17))
        vals = rng.integers(0, 1 << 15, n) >> rng.integers(0, 15, n)
        k = int(rng.integers(0, 5))
        masks = terms[vals]
        want = _tcle_pe_ref([_terms_list(m) for m in masks if m], k)
        assert _tcle_pe(masks.astype(np.uint64), n, 1 << k) == want
        union = int(np.bitwise_or.reduce(masks))
        assert want <= bin(union).count("1")           # o grows strictly every cycle
        assert want >= max(bin(int(m)).count("1") for m in masks)
        if k >= 1:  # what makes TCLe <= TCLp (found by search, checked here)
            assert want <= int(prec[vals].max())


def test_tcle_units_run_every_pe_side_by_side():
    rng = np.random.default_rng(4)
    terms = booth_terms(ALL16)
    for _ in range(100):
        n_pe, k = int(rng.integers(1, 40)), int(rng.integers(0, 5))
        n_lanes = int(rng.integers(0, 17))
        vals = (rng.integers(0, 1 << 16, (16, n_pe)) >> rng.integers(0, 16, (16, n_pe)))
        vals = vals * (rng.random((16, n_pe)) < 0.7)
        masks = terms[vals]
        want = [_tcle_pe(masks[:n_lanes, q].copy(), n_lanes, 1 << k) for q in range(n_pe)]
        for dtype in (np.uint32, np.uint16):
            if masks.max() >= 1 << 16 and dtype == np.uint16:
                continue
            scratch = np.zeros(n_pe, dtype)
            cycles = np.zeros(n_pe, np.int64)
            _tcle_units(masks.astype(dtype), n_lanes, n_pe, 1 << k, scratch, scratch.copy(),
                        cycles)
            assert cycles.tolist() == want


# ---- scheduled sources ---------------------------------------------------------------------
def test_sources_by_hand():
    """One filter, 2 lines x 4 lanes, L<1,0>: the weight at (1, 1) is promoted into (0, 1)."""
    nz = np.zeros((1, 2, 1, 4), bool)
    nz[0, 0, 0, 0] = nz[0, 1, 0, 1] = True
    offsets = np.array([(1, 0)], np.int64)
    steps, src = _schedule_sources(nz, offsets, 1, 0, 0, True)
    assert steps.tolist() == [1]  # line 1 is empty after the promotion: skipped
    assert src[0, 0, 0].tolist() == [0, 4 + 1, 2, 3]  # own, promoted (line 1, lane 1), zeros
    steps, src = _schedule_sources(nz, offsets, 1, 0, 0, False)
    assert src[0, 0, 0].tolist() == [0, 5, -1, -1]  # zero weights masked
    assert (src[0, 1] == -1).all()


def test_sources_promoted_away_are_idle():
    nz = np.zeros((1, 2, 1, 4), bool)
    nz[0, 0, 0, 0] = nz[0, 1, 0, 1] = nz[0, 1, 0, 2] = True
    nz[0, 0, 0, 2] = True
    steps, src = _schedule_sources(nz, np.array([(1, 0)], np.int64), 1, 0, 0, True)
    # (1,1) moves up into (0,1); line 1 keeps (1,2) and lane 1 is idle (promoted away)
    assert steps.tolist() == [2]
    assert src[0, 0, 0].tolist() == [0, 5, 2, 3]
    assert src[0, 1, 0].tolist() == [4, -1, 6, 7]


@pytest.mark.parametrize("seed", range(6))
def test_sources_kernel_matches_reference(seed):
    rng = np.random.default_rng(seed)
    sets, lines, rows, lanes = 3, int(rng.integers(1, 8)), int(rng.integers(1, 4)), 8
    nz = rng.random((sets, lines, rows, lanes)) < rng.uniform(0.05, 0.9)
    for occupy in (True, False):
        for priority in (0, 1, 2):
            got = _schedule_sources(nz, T25, 2, priority, 5, occupy)
            want = _schedule_sources_ref(nz, T25, 2, priority, 5, occupy)
            assert (got[0] == want[0]).all() and (got[1] == want[1]).all()


# ---- column recurrence and the whole kernels ------------------------------------------------
def test_recurrence_by_hand():
    costs = [[3, 1], [1, 3]]
    assert _recurrence_ref(costs, 0) == [3, 6]   # synchronised: 3 + 3
    assert _recurrence_ref(costs, 1) == [3, 4]   # column 1 runs ahead by one step
    rng = np.random.default_rng(2)
    for registers in range(4):
        c = rng.integers(1, 9, (20, 3))
        finish, hist = np.zeros(3, np.int64), np.zeros(registers + 1, np.int64)
        tops = [_advance(c[j].astype(np.int64), 3, finish, hist, j, registers)
                for j in range(20)]
        assert tops == _recurrence_ref(c.tolist(), registers)


def _codes(mags, mode):
    return precisions(mags) if mode == TCLP else booth_terms(mags)


@pytest.mark.parametrize("seed", range(8))
def test_serial_kernels_match_references(seed):
    rng = np.random.default_rng(100 + seed)
    sets, lines, rows, lanes = int(rng.integers(1, 6)), int(rng.integers(1, 6)), 2, 8
    tiles, columns = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    n_win, registers, k = int(rng.integers(1, 8)), int(rng.integers(0, 3)), int(rng.integers(0, 3))
    mags = (rng.integers(0, 1 << 15, (n_win, lines * lanes))
            >> rng.integers(0, 15, (n_win, lines * lanes)))
    mags = (mags * (rng.random(mags.shape) < 0.6)).astype(np.uint16)
    nz = rng.random((sets, lines, rows, lanes)) < rng.uniform(0.05, 0.9)
    steps, src = _schedule_sources(nz, T25, 2, 0, 5, bool(seed % 2))
    wnz = mags.reshape(n_win, lines, lanes) != 0
    wsets = -(-n_win // columns)
    pad = np.zeros((wsets * columns, lines, lanes), bool)
    pad[:n_win] = wnz
    wbuf = np.ascontiguousarray(pad.reshape(wsets, columns, lines, lanes).transpose(0, 2, 1, 3))
    wsteps, wsrc = _schedule_sources(wbuf, T25, 2, 0, 5, True)
    n_f = int(rng.integers(1, 9))
    filt = rng.random((n_f, lines * lanes)) < 0.5
    for mode in (TCLP, TCLE):
        codes = _codes(mags, mode)
        for dtype in (np.uint32, np.uint16):
            codes_t = np.ascontiguousarray(codes.T, dtype=dtype)
            got = serial_filters(src, steps, codes_t, tiles, columns, mode, 1 << k, registers)
            want = _serial_filters_ref(src, steps, codes, n_win, tiles, columns, mode, 1 << k,
                                       registers)
            assert (got[0] == want[0]).all() and got[1] == want[1]
        want = _serial_filters_ref(src, steps, codes, n_win, tiles, columns, mode, 1 << k,
                                   registers)
        assert (got[0] == want[0]).all() and got[1] == want[1]
        for skip in (False, True):
            got = _serial_windows(wsrc, wsteps, codes, filt, n_f, 3, mode, 1 << k, registers,
                                  skip)
            want = _serial_windows_ref(wsrc, wsteps, codes, filt, n_f, 3, mode, 1 << k,
                                       registers, skip)
            assert (got[0] == want[0]).all() and got[1] == want[1]


# ---- whole layers ----------------------------------------------------------------------------
def _tiny(kind, **changes):
    """1 tile x 1 row x 1 column x 4 lanes, L<1,0>, weights scheduled."""
    hw = load_hardware({"array": {"tiles": 1, "rows": 1, "columns": 1, "lanes": 4},
                        "frontend": {"shape": "L", "lookahead": 1, "lookaside": 0,
                                     "schedule": "weights"},
                        "backend": {"kind": kind}})
    return hw.replace(**changes)


def test_one_pe_by_hand():
    """Activations 7, 27, 0, 32767 (max 32767: exact magnitudes) times dense weights."""
    w = np.ones((1, 4, 1, 1))
    a = np.array([7, 27, 0, 32767], float).reshape(1, 4, 1, 1)
    p = simulate_layer(w, a, hardware=_tiny("tclp")).passes["forward"]
    assert (p.base_cycles, p.compute_cycles) == (16, 15)  # one line; precision of 32767
    e = simulate_layer(w, a, hardware=_tiny("tcle")).passes["forward"]
    assert (e.base_cycles, e.compute_cycles) == (16, 5)   # o = 0, 1, 3, 4, 15 (see PE test)
    e0 = simulate_layer(w, a, hardware=_tiny("tcle", **{"backend.bits_first_stage": 0}))
    assert e0.passes["forward"].compute_cycles == 5       # same o's: no two lanes 1-3 apart
    bp = simulate_layer(w, a, hardware=_tiny("bit-parallel")).passes["forward"]
    assert (bp.base_cycles, bp.compute_cycles) == (1, 1)


def test_promoted_weight_brings_its_own_activation():
    """Weights at channels 0 and 5 (lines 0 and 1 of 4 lanes); the one at (1, 1) is promoted
    into (0, 1) and multiplies activation 5 (= 7, precision 3), not activation 1 (32767)."""
    w = np.zeros((1, 8, 1, 1))
    w[0, 0] = w[0, 5] = 1
    a = np.zeros((1, 8, 1, 1))
    a[0, 0], a[0, 1], a[0, 5] = 1, 32767, 7
    p = simulate_layer(w, a, hardware=_tiny("tclp")).passes["forward"]
    assert (p.base_cycles, p.compute_cycles) == (32, 3)
    e = simulate_layer(w, a, hardware=_tiny("tcle")).passes["forward"]
    assert e.compute_cycles == 2  # terms {0} and {3, 0}


def test_zero_weights_occupy_their_lanes_unless_skipped():
    w = np.array([1.0, 0, 0, 0]).reshape(1, 4, 1, 1)
    a = np.array([1.0, 32767, 0, 0]).reshape(1, 4, 1, 1)
    occupied = simulate_layer(w, a, hardware=_tiny("tclp")).passes["forward"]
    assert occupied.compute_cycles == 15  # DNNsim: the zero weight's activation is processed
    skipped = simulate_layer(w, a, hardware=_tiny("tclp", **{"backend.skip_zero_weights": True}))
    assert skipped.passes["forward"].compute_cycles == 1


def _rand(shape, density, rng):
    v = rng.standard_normal(shape) * np.exp(rng.uniform(-6, 0, shape))
    return np.where(rng.random(shape) < density, v, 0.0)


@pytest.mark.parametrize("columns, schedule, skip", [
    (1, "sparser", False), (4, "weights", False), (3, "activations", True), (2, "sparser", True)])
def test_tcle_never_slower_than_tclp(columns, schedule, skip):
    rng = np.random.default_rng(columns)
    w = _rand((24, 20, 3, 3), 0.3, rng)
    a = _rand((1, 20, 6, 6), 0.5, rng)
    g = _rand((1, 24, 6, 6), 0.7, rng)
    hw = load_hardware({"array": {"tiles": 2, "rows": 4, "columns": columns},
                        "frontend": {"schedule": schedule},
                        "backend": {"skip_zero_weights": skip}})
    reports = {kind: simulate_layer(w, a, padding=1, output_grad=g,
                                    hardware=hw.replace(**{"backend.kind": kind}))
               for kind in ("tclp", "tcle")}
    for pass_name in ("forward", "backward_input", "backward_weight"):
        p, e = (reports[k].passes[pass_name] for k in ("tclp", "tcle"))
        assert p.base_cycles == e.base_cycles
        assert e.ideal_cycles <= e.compute_cycles <= p.compute_cycles <= p.base_cycles
        assert e.effectual_macs == p.effectual_macs


def test_bit_serial_base_matches_bit_parallel_with_pe_bits_columns():
    rng = np.random.default_rng(3)
    w = _rand((32, 16, 3, 3), 1.0, rng)
    a = _rand((1, 16, 8, 8), 1.0, rng)  # 64 windows: fill 16 columns exactly
    dense = simulate_layer(w, a, padding=1, hardware="dadiannao").passes["forward"]
    for name in ("bit-tactical-tclp", "bit-tactical-tcle"):
        hw = builtin_hardware(name)
        f = simulate_layer(w, a, padding=1, hardware=hw).passes["forward"]
        assert f.base_cycles == dense.base_cycles
        assert f.compute_cycles < f.base_cycles


def test_trace_values_drive_the_serial_back_ends(make_trace):
    """simulate() reads values (not masks) for the bit-serial back ends."""
    from accelsim import simulate
    from accelsim.simulate import simulate_operands
    from accelsim.trace import open_trace

    path, ops = make_trace(encoding="float32")
    hw = builtin_hardware("bit-tactical-tcle").replace(**{"array.columns": 2})
    report = simulate(path, hw, reference=None)
    with open_trace(path) as trace:
        for lr, g in zip(report.layers, trace.geometries, strict=True):
            assert simulate_operands(g, ops[g.name], hw).to_dict() == lr.to_dict()
