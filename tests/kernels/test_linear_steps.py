"""``[backend] linear_columns``: a bit-serial linear layer's steps dealt round-robin to the
columns (DNNsim's ``process_linear``) -- the kernel against its reference, hand-worked cases,
and where the option acts."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.arrays.bittactical import BitTacticalModel, problem_timing
from accelsim.errors import HardwareError
from accelsim.kernels.recoding import booth_terms, precisions
from accelsim.kernels.serial import TCLE, TCLP, _schedule_sources
from accelsim.kernels.serial_filters import serial_filters
from accelsim.kernels.serial_ref import _serial_steps_ref
from accelsim.spec.geometry import LayerGeometry
from accelsim.spec.hardware import builtin_hardware

T25 = np.array([(1, -1), (1, 0), (1, 1), (1, 3), (2, -2), (2, 0), (2, 2)], np.int64)


@pytest.mark.parametrize("seed", range(8))
def test_steps_kernel_matches_reference(seed):
    rng = np.random.default_rng(700 + seed)
    sets, lines, rows, lanes = int(rng.integers(1, 6)), int(rng.integers(1, 7)), 2, 8
    tiles, columns, n_win = int(rng.integers(1, 4)), int(rng.integers(1, 5)), int(rng.integers(1, 6))
    mags = (rng.integers(0, 1 << 15, (n_win, lines * lanes))
            >> rng.integers(0, 15, (n_win, lines * lanes)))
    mags = (mags * (rng.random(mags.shape) < 0.6)).astype(np.uint16)
    nz = rng.random((sets, lines, rows, lanes)) < rng.uniform(0.05, 0.9)
    steps, src = _schedule_sources(nz, T25, 2, 0, 5, bool(seed % 2))
    for mode in (TCLP, TCLE):
        codes = precisions(mags) if mode == TCLP else booth_terms(mags)
        codes_t = np.ascontiguousarray(codes.T)
        got = serial_filters(src, steps, codes_t, tiles, columns, mode, 4, 1, True)
        want = _serial_steps_ref(src, steps, codes, n_win, tiles, columns, mode, 4)
        assert (got[0] == want[0]).all() and got[1] == want[1]


def _machine(kind: str, linear_columns: str):
    return builtin_hardware(f"bit-tactical-{kind}").replace(**{
        "array.tiles": 1, "array.rows": 1, "array.columns": 2, "array.lanes": 1,
        "frontend.kind": "dense", "backend.linear_columns": linear_columns})


@pytest.mark.parametrize(("kind", "values", "steps", "windows"), [
    # TCLp, precisions 5, 1, 1: column 0 runs 0-5, column 1 runs 1-2 (one dispatch a cycle),
    # the third step waits for column 0: 5-6.  A window per column: 5 + 1 + 1
    ("tclp", [16, 1, 1], 6, 7),
    # TCLe, terms 3 (21 = 16 + 4 + 1), 1, 1: 0-3, 1-2, 3-4; a window per column: 3 + 1 + 1
    ("tcle", [21, 1, 1], 4, 5),
    # equal costs of 4 bits: 0-4, 1-5, 4-8, 5-9; a window per column: 4 * 4
    ("tclp", [8, 8, 8, 8], 9, 16),
])
def test_hand_worked_linear_steps(kind, values, steps, windows):
    f = np.ones((1, len(values), 1), bool)            # one filter, a line per value
    x = np.array(values, np.uint16).reshape(1, len(values), 1)   # one input vector
    got = problem_timing(f, x, _machine(kind, "steps"), "filters", steps_to_columns=True)
    assert got.breakdown.compute_cycles == steps
    old = problem_timing(f, x, _machine(kind, "windows"), "filters")
    assert old.breakdown.compute_cycles == windows


def test_each_sample_on_its_own():
    """Two input vectors: each is simulated alone (DNNsim runs every sample on its own)."""
    f = np.ones((1, 3, 1), bool)
    x = np.array([[16, 1, 1], [1, 1, 1]], np.uint16).reshape(2, 3, 1)
    got = problem_timing(f, x, _machine("tclp", "steps"), "filters", steps_to_columns=True)
    assert got.breakdown.compute_cycles == 6 + 3   # 0-1, 1-2, 2-3 for the second


def test_option_acts_on_linear_layers_only():
    hw = builtin_hardware("bit-tactical-tclp")
    model = BitTacticalModel()
    fc = LayerGeometry(name="fc", kind="linear", in_channels=32, out_channels=4)
    conv = LayerGeometry(name="c", kind="conv", in_channels=4, out_channels=4, kernel_h=1,
                         kernel_w=1, input_h=2, input_w=2, output_h=2, output_w=2)
    rng = np.random.default_rng(0)
    w_fc, a_fc = rng.integers(-3, 4, (4, 32)), rng.integers(0, 8, (2, 32))
    g_fc = rng.integers(-3, 4, (2, 4))
    assert all(w.steps_to_columns for w in model.problems(fc, "forward", [w_fc, a_fc], hw))
    assert all(w.steps_to_columns for w in model.problems(fc, "backward_input", [w_fc, g_fc], hw))
    assert not any(w.steps_to_columns
                   for w in model.problems(fc, "backward_weight", [a_fc, g_fc], hw))
    old = hw.replace(**{"backend.linear_columns": "windows"})
    assert not any(w.steps_to_columns for w in model.problems(fc, "forward", [w_fc, a_fc], old))
    w_c, a_c = rng.integers(-3, 4, (4, 4, 1, 1)), rng.integers(0, 8, (1, 4, 2, 2))
    assert not any(w.steps_to_columns for w in model.problems(conv, "forward", [w_c, a_c], hw))
    parallel = builtin_hardware("bit-tactical")
    assert not any(w.steps_to_columns
                   for w in model.problems(fc, "forward", [w_fc, a_fc], parallel))


def test_linear_columns_is_validated_and_late():
    with pytest.raises(HardwareError, match="linear_columns"):
        builtin_hardware("bit-tactical-tcle").replace(**{"backend.linear_columns": "rows"})
    hw = builtin_hardware("bit-tactical-tcle")
    assert "linear_columns" not in hw.to_dict()["backend"]
    old = hw.replace(**{"backend.linear_columns": "windows"})
    assert old.to_dict()["backend"]["linear_columns"] == "windows"
    assert old.digest() != hw.digest()
