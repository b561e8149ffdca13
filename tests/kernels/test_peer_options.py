"""The two [backend] options of the DNNsim comparison: ``signed_precision`` (TCLp counts a
signed tensor's precision in two's complement) and ``idle_padding_rows`` (rows padding the
last filter set stay idle), their errors, and that neither changes a machine's dict or digest
at its default."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.errors import HardwareError
from accelsim.kernels.quantise import twos_complement
from accelsim.kernels.recoding import twos_complement_precisions
from accelsim.simulate import simulate_layer
from accelsim.spec.hardware import builtin_hardware, load_hardware

TCLP = builtin_hardware("bit-tactical-tclp")


def test_twos_complement_precisions_by_hand():
    x = np.array([0, 1, -1, 2, -2, 3, 127, -128, 128, -129, 32767, -32767])
    assert twos_complement_precisions(x).tolist() == [2, 2, 2, 3, 2, 3, 8, 8, 9, 9, 16, 16]
    with pytest.raises(Exception, match="two's complement"):
        twos_complement_precisions(np.array([1 << 15]))


@pytest.mark.parametrize(("choice", "rule", "values", "expected"), [
    ("auto", "integer", [-1, 2], True),
    ("auto", "integer", [0, 2], False),          # no sign to count
    ("auto", "per-tensor", [-1.5, 2.0], False),  # a sign-magnitude quantiser
    ("twos-complement", "per-tensor", [-1.5, 2.0], True),
    ("sign-magnitude", "integer", [-1, 2], False),
])
def test_when_tclp_counts_twos_complement(choice, rule, values, expected):
    backend = TCLP.replace(**{"backend.signed_precision": choice}).backend
    assert twos_complement(backend, rule, np.array(values)) is expected
    tcle = builtin_hardware("bit-tactical-tcle").replace(**{"backend.signed_precision": choice})
    assert twos_complement(tcle.backend, rule, np.array(values)) is False  # TCLe: magnitudes


def _layer(signed: bool, filters: int = 16) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    w = rng.integers(-127, 128, (filters, 16, 3, 3)).astype(np.float32)
    w[rng.random(w.shape) < 0.7] = 0
    a = rng.integers(-128 if signed else 0, 128, (1, 16, 6, 6)).astype(np.float32)
    return w, a


def _cycles(w, a, hw, padding: int = 1) -> int:
    return simulate_layer(w, a, padding=padding, hardware=hw).passes["forward"].compute_cycles


def test_signed_precision_adds_the_sign_bit_on_integer_traces():
    w, a = _layer(signed=True)
    auto = _cycles(w, a, TCLP)
    magnitude = _cycles(w, a, TCLP.replace(**{"backend.signed_precision": "sign-magnitude"}))
    assert auto > magnitude
    assert auto == _cycles(w, a, TCLP.replace(**{"backend.signed_precision": "twos-complement"}))
    w, a = _layer(signed=False)  # nothing signed: the rules agree
    assert _cycles(w, a, TCLP) == _cycles(
        w, a, TCLP.replace(**{"backend.signed_precision": "twos-complement"}))


def test_idle_padding_rows_by_hand():
    """Two filters (14 rows pad the set), 1x1 over 48 channels = 3 lines of 16 lanes.  Line 1
    lane 0 is zero in both filters and takes line 2's only weight, so line 2 is skipped.
    The activation at (line 1, lane 0) is 2**14 and every other is 1: a padding row that
    occupies its lanes reads it (15 cycles), an idle one (the default) does not (1 cycle;
    DNNsim: 2 in all)."""
    w = np.ones((2, 48, 1, 1), np.float32)
    w[:, 16] = 0          # line 1, lane 0
    w[:, 33:] = 0         # line 2: lane 0 only
    a = np.ones((1, 48, 1, 1), np.float32)
    a[0, 16] = 1 << 14
    hw = TCLP.replace(**{"frontend.schedule": "weights", "frontend.priority": "most-flexible"})
    occupied = hw.replace(**{"backend.idle_padding_rows": False})
    assert _cycles(w, a, occupied, 0) == 1 + 15
    assert _cycles(w, a, hw, 0) == 1 + 1
    w16 = np.concatenate([w] * 8)  # 16 filters: no padding row, the option changes nothing
    assert _cycles(w16, a, occupied, 0) == _cycles(w16, a, hw, 0) == 1 + 1


def test_defaults_keep_dict_and_digest_and_bad_values_are_one_line():
    hw = builtin_hardware("bit-tactical-tcle")
    assert "signed_precision" not in hw.to_dict()["backend"]
    assert "idle_padding_rows" not in hw.to_dict()["backend"] and hw.backend.idle_padding_rows
    set_ = hw.replace(**{"backend.signed_precision": "twos-complement",
                         "backend.idle_padding_rows": False})
    assert set_.to_dict()["backend"]["signed_precision"] == "twos-complement"
    assert set_.to_dict()["backend"]["idle_padding_rows"] is False
    assert set_.digest() != hw.digest()
    assert load_hardware(set_.to_dict()) == set_ and load_hardware(hw.to_dict()) == hw
    with pytest.raises(HardwareError, match="signed_precision"):
        hw.replace(**{"backend.signed_precision": "ones-complement"})
    with pytest.raises(HardwareError, match="idle_padding_rows"):
        hw.replace(**{"backend.idle_padding_rows": "yes"})
