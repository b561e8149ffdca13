"""DNNsim's first-layer fold (accelsim.lowering.fold), against the mapping written out
element by element as DNNsim states it (base/src/Array.cpp::reshape_first_layer_act)."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.lowering.fold import fold_first_layer, folds
from accelsim.simulate import simulate_layer
from accelsim.spec.geometry import LayerGeometry
from accelsim.spec.hardware import builtin_hardware


def _geometry(size: int, k: int, s: int, p: int, cin: int = 3) -> LayerGeometry:
    out = (size + 2 * p - k) // s + 1
    return LayerGeometry(name="c", kind="conv", in_channels=cin, out_channels=4, kernel_h=k,
                         kernel_w=k, stride_h=s, stride_w=s, padding_h=p, padding_w=p,
                         input_h=size, input_w=size, output_h=out, output_w=out)


def _by_element(a: np.ndarray, s: int) -> np.ndarray:
    n, c, h, w = a.shape
    out = np.zeros((n, c * s * s, -(-h // s), -(-w // s)), a.dtype)
    for b in range(n):
        for k in range(c):
            for i in range(h):
                for j in range(w):
                    out[b, (j % s) * s * c + c * (i % s) + k, i // s, j // s] = a[b, k, i, j]
    return out


@pytest.mark.parametrize(("size", "k", "s", "p"), [(12, 3, 2, 1), (11, 4, 2, 1), (10, 7, 3, 3)])
def test_fold_matches_dnnsims_mapping(size, k, s, p):
    rng = np.random.default_rng(size)
    g = _geometry(size, k, s, p)
    w = rng.integers(-9, 9, g.weight_shape()).astype(np.float32)
    a = rng.integers(0, 9, g.activation_shape(2)).astype(np.float32)
    folded, fw, fa = fold_first_layer(g, w, a)
    padded = np.pad(a, ((0, 0), (0, 0), (p, p), (p, p)))
    np.testing.assert_array_equal(fa, _by_element(padded, s))
    np.testing.assert_array_equal(fw, _by_element(w, s))
    kf, nf = -(-k // s), -(-(size + 2 * p) // s)
    assert (folded.in_channels, folded.kernel_h, folded.stride_h, folded.padding_h) == \
        (3 * s * s, kf, 1, 0)
    assert folded.output_h == folded.output_w == nf - kf + 1
    assert folded.output_h in (g.output_h, g.output_h + 1)  # (11, 4, 2, 1): 6 for 5


def test_which_layers_fold():
    assert folds(_geometry(12, 3, 2, 1), "forward")
    assert not folds(_geometry(12, 3, 1, 1), "forward")             # stride 1
    assert not folds(_geometry(12, 3, 2, 1, cin=4), "forward")      # not 3 channels
    assert not folds(_geometry(12, 3, 2, 1), "backward_input")      # forward only


def test_option_changes_only_the_folded_layer():
    rng = np.random.default_rng(1)
    g = _geometry(12, 3, 2, 1)
    w = rng.standard_normal(g.weight_shape()).astype(np.float32)
    a = rng.standard_normal(g.activation_shape(1)).astype(np.float32)
    on = builtin_hardware("dadiannao")  # folds by default (DNNsim's convention)
    hw = on.replace(**{"frontend.fold_first_layer": False})
    plain = simulate_layer(w, a, stride=2, padding=1, hardware=hw).passes["forward"]
    fold = simulate_layer(w, a, stride=2, padding=1, hardware=on).passes["forward"]
    # 36 windows; 9 taps of 3 channels = 9 lines unfolded, 4 taps of 12 channels folded
    assert (plain.compute_cycles, fold.compute_cycles) == (36 * 9, 36 * 4)
    w4 = rng.standard_normal((4, 4, 3, 3)).astype(np.float32)
    a4 = rng.standard_normal((1, 4, 12, 12)).astype(np.float32)
    assert simulate_layer(w4, a4, stride=2, padding=1, hardware=hw).passes["forward"] == \
        simulate_layer(w4, a4, stride=2, padding=1, hardware=on).passes["forward"]
    assert "fold_first_layer" not in on.to_dict()["frontend"]
    assert hw.to_dict()["frontend"]["fold_first_layer"] is False
