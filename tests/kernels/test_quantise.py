"""``[backend] quantisation``: every rule, its errors, and the rule in the reports."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim import simulate_layer
from accelsim.errors import ConfigError, HardwareError
from accelsim.kernels.quantise import (
    derived_precision,
    fits_integer,
    quantise_window,
    read_precision_file,
)
from accelsim.spec.array_sections import BackendSpec
from accelsim.spec.hardware import builtin_hardware


def be(rule, **more):
    return BackendSpec(kind="tclp", quantisation=rule, **more)


def test_integer_used_as_is():
    v = np.array([0, 3, -127, 5])
    q, rule = quantise_window(v, be("integer", value_bits=8), "c1", "forward")
    assert rule == "integer" and q.tolist() == [0, 3, 127, 5] and q.dtype == np.uint16
    # no negative value: the full value_bits are magnitude
    assert quantise_window(np.array([255.0, 1.0]), be("integer", value_bits=8), "c", "forward"
                           )[0].tolist() == [255, 1]


@pytest.mark.parametrize("values, words", [
    ([0.5, 1.0], ["layer 'c1' backward_input", "0.5 is not an integer"]),
    ([-128, 3], ["magnitude 128", "value_bits = 8"]),
    ([256, 3], ["magnitude 256", "value_bits = 8"]),
    ([np.nan, 1.0], ["nan is not an integer"]),
])
def test_integer_errors(values, words):
    with pytest.raises(ConfigError) as e:
        quantise_window(np.array(values), be("integer", value_bits=8), "c1", "backward_input")
    msg = str(e.value)
    assert "\n" not in msg and all(w in msg for w in words), msg


def test_per_tensor_and_auto():
    v = np.array([0.0, 0.5, -1.0, 1e-9])
    q, rule = quantise_window(v, be("per-tensor"), "c", "forward")
    assert rule == "per-tensor" and q.tolist() == [0, 16384, 32767, 1]
    assert quantise_window(v, be("auto"), "c", "forward")[1] == "per-tensor"
    ints = np.array([0, 127, -3])
    q, rule = quantise_window(ints, be("auto"), "c", "forward")
    assert rule == "integer" and q.tolist() == [0, 127, 3]
    # integral but too wide for value_bits -> per-tensor
    assert quantise_window(np.array([-300, 2]), be("auto", value_bits=8), "c", "forward"
                           )[1] == "per-tensor"
    assert fits_integer(np.array([True, False]), 2)


def test_per_layer_profile_derived():
    """F = fraction_bits; M - 1 + F = bit length of the 99.99th percentile at F bits."""
    v = np.array([0.0, 0.25, 1.5, 3.0])
    m, f = derived_precision(v, 2, 16)
    # p99.99 of (0.25, 1.5, 3.0) ~ 3.0 -> rint(3.0 * 4) = 12 -> 4 bits -> M = 4 + 1 - 2 = 3
    assert (m, f) == (3, 2)
    q, rule = quantise_window(v, be("per-layer-profile", fraction_bits=2), "c", "forward")
    assert rule == "per-layer-profile" and q.tolist() == [0, 1, 6, 12]
    # tiny non-zeros stay non-zero; the width is capped at value_bits - 1
    q, _ = quantise_window(np.array([1e-6, 1e6]), be("per-layer-profile", value_bits=8,
                                                     fraction_bits=2), "c", "forward")
    assert q.tolist() == [1, 127]


def _precision_file(tmp_path, extra=""):
    p = tmp_path / "precision.txt"
    p.write_text("magnitude (+1 of the sign), fraction, wgt_magnitude, wgt_fraction\n"
                 "3;9;\n1;-1;\n2;1;\n7;8;\nc1;c2\n" + extra)
    return p


def test_per_layer_profile_file(tmp_path):
    path = _precision_file(tmp_path, "2;2;\n0;3;\n")
    got = read_precision_file(str(path))
    assert got["c1"] == {"activation": (3, 1), "grad": (2, 0)}
    assert got["c2"] == {"activation": (9, -1), "grad": (2, 3)}
    b = be("per-layer-profile", precision_file=str(path))
    v = np.array([0.0, 0.3, 1.26, 9.0])
    # c1 forward: activation M=3, F=1: rint(|x| * 2) capped at 2**3 - 1 = 7 (non-zeros >= 1)
    assert quantise_window(v, b, "c1", "forward")[0].tolist() == [0, 1, 3, 7]
    # c1 backward_input: gradient M=2, F=0: cap 1
    assert quantise_window(v, b, "c1", "backward_input")[0].tolist() == [0, 1, 1, 1]
    # a layer the file does not name: the derived rule
    want = quantise_window(v, be("per-layer-profile"), "x", "forward")[0]
    assert quantise_window(v, b, "x", "forward")[0].tolist() == want.tolist()


@pytest.mark.parametrize("text, words", [
    ("h\n3\n1\n2\n7\n", ["line 6 naming the layers"]),
    ("h\n3;x\n1;1\n2;2\n7;7\nc1;c2\n", ["line 2 must hold ';'-separated integers"]),
    ("h\n3\n1\n2\n7\nc1;c2\n", ["one value per layer", "(2)"]),
])
def test_precision_file_errors(tmp_path, text, words):
    p = tmp_path / "p.txt"
    p.write_text(text)
    with pytest.raises(ConfigError) as e:
        quantise_window(np.ones(3), be("per-layer-profile", precision_file=str(p)), "c1",
                        "forward")
    assert all(w in str(e.value) for w in words), str(e.value)
    with pytest.raises(ConfigError, match="cannot be read"):
        read_precision_file(str(tmp_path / "missing.txt"))


def test_profile_too_wide(tmp_path):
    p = tmp_path / "p.txt"
    p.write_text("h\n12;1\n8;0\n1;1\n1;1\nc1;c2\n")
    with pytest.raises(ConfigError, match="does not fit value_bits = 16"):
        quantise_window(np.ones(3), be("per-layer-profile", precision_file=str(p)), "c1",
                        "forward")


@pytest.mark.parametrize("key, value", [("quantisation", "log"), ("value_bits", 17),
                                        ("value_bits", 1), ("fraction_bits", -1),
                                        ("precision_file", 3)])
def test_bad_backend_keys(key, value):
    with pytest.raises(HardwareError, match=key):
        BackendSpec(**{key: value})


def test_reports_name_the_rule():
    """simulate JSON: every bit-serial pass says its rule; bit-parallel passes have none."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    a = rng.integers(0, 100, (1, 3, 6, 6)).astype(np.float32)
    g = rng.standard_normal((1, 4, 4, 4)).astype(np.float32)
    tclp = builtin_hardware("bit-tactical-tclp")
    r = simulate_layer(w, a, output_grad=g, hardware=tclp).to_dict()
    assert r["forward"]["quantisation"] == "integer"
    assert r["backward_input"]["quantisation"] == "per-tensor"
    assert r["backward_weight"]["quantisation"] == "integer"
    r = simulate_layer(w, a, hardware=builtin_hardware("bit-tactical")).to_dict()
    assert "quantisation" not in r["forward"]
    with pytest.raises(ConfigError, match="not an integer"):
        simulate_layer(w, a, output_grad=g, hardware=tclp.replace(
            **{"backend.quantisation": "integer"}))
