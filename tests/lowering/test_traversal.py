"""``traversal``: DNNsim's order (windows row index fastest, taps kw outer) and row-major,
worked by hand on a 2x2 kernel and a 3x4 output, in every pass, and on the machine."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim import simulate_layer
from accelsim.errors import HardwareError, LoweringError
from accelsim.lowering.assemble import assemble
from accelsim.lowering.lower import lower_pass
from accelsim.spec.hardware import builtin_hardware
from tests.lowering.test_lowering import conv

# one filter, one channel, 2x2 kernel [[1, 2], [3, 4]] (rows = kh); input 4x5 with
# X[y, x] = 10 y + x -> output 3x4 (Ho = 3, Wo = 4)
W = np.array([[[[1, 2], [3, 4]]]], np.float32)
X = (10 * np.arange(4)[:, None] + np.arange(5)[None, :]).astype(np.float32)[None, None]
G = conv("c", 1, 1, 2, hw=(4, 5))


def test_forward_by_hand():
    rm = lower_pass(G, "forward", W, X, lanes=1, traversal="row-major")[0]
    dn = lower_pass(G, "forward", W, X, lanes=1, traversal="dnnsim")[0]
    # taps: row-major (ky, kx) = (0,0), (0,1), (1,0), (1,1); dnnsim (0,0), (1,0), (0,1), (1,1)
    assert rm.filters.ravel().tolist() == [1, 2, 3, 4]
    assert dn.filters.ravel().tolist() == [1, 3, 2, 4]
    # windows: row-major w -> (w // 4, w % 4); dnnsim w -> (w % 3, w // 3)
    assert rm.windows[:, 0, 0].tolist() == [0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23]
    assert dn.windows[:, 0, 0].tolist() == [0, 10, 20, 1, 11, 21, 2, 12, 22, 3, 13, 23]
    assert rm.windows[1].ravel().tolist() == [1, 2, 11, 12]    # pixel (0, 1)
    assert dn.windows[1].ravel().tolist() == [10, 20, 11, 21]  # pixel (1, 0)


def test_backward_weight_by_hand():
    g = np.arange(12, dtype=np.float32).reshape(1, 1, 3, 4)  # grad[y, x] = 4 y + x
    rm = lower_pass(G, "backward_weight", X, g, lanes=12, traversal="row-major")
    dn = lower_pass(G, "backward_weight", X, g, lanes=12, traversal="dnnsim")
    assert [p.tag[4:] for p in rm] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert [p.tag[4:] for p in dn] == [(0, 0), (1, 0), (0, 1), (1, 1)]
    assert rm[0].filters.ravel().tolist() == list(range(12))
    assert dn[0].filters.ravel().tolist() == [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]
    assert dn[0].windows.ravel().tolist() == [0, 10, 20, 1, 11, 21, 2, 12, 22, 3, 13, 23]


@pytest.mark.parametrize("pass_name", ["forward", "backward_input", "backward_weight"])
@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), (3, 2)])
def test_both_traversals_assemble_exactly(pass_name, stride, padding):
    rng = np.random.default_rng(stride)
    g = conv("c", 3, 4, (2, 3), s=stride, p=padding, hw=(7, 6))
    w = rng.standard_normal(g.weight_shape())
    a = rng.standard_normal(g.activation_shape(2))
    gr = rng.standard_normal(g.grad_shape(2))
    first, second = {"forward": (w, a), "backward_input": (w, gr),
                     "backward_weight": (a, gr)}[pass_name]
    want = assemble(g, pass_name, lower_pass(g, pass_name, first, second, lanes=2), 2)
    got = assemble(g, pass_name, lower_pass(g, pass_name, first, second, lanes=2,
                                            traversal="dnnsim"), 2, traversal="dnnsim")
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def _tiny(traversal):
    return builtin_hardware("bit-tactical-tclp").replace(**{
        "array.tiles": 1, "array.rows": 1, "array.columns": 4, "array.lanes": 1,
        "frontend.kind": "dense", "frontend.traversal": traversal})


def test_tclp_cycles_by_hand():
    """TCLp, one 4-column PE row, one lane, dense front end: a step of a window set costs the
    largest activation precision in it.  Activations 1 except X[0,0] = X[2,0] = 255 (8 bits).
    row-major sets = output rows: each holds one 8-bit step -> 3 * (8 + 1 + 1 + 1) = 33;
    dnnsim sets {(0,0), (1,0), (2,0), (0,1)}: taps (0,0) and (1,0) both 8 -> 8+8+1+1 = 18,
    then 4 + 4 -> 26.  Base: 3 sets x 4 lines x 16 bits = 192 in both."""
    a = np.ones((1, 1, 4, 5), np.float32)
    a[0, 0, 0, 0] = a[0, 0, 2, 0] = 255
    w = np.ones((1, 1, 2, 2), np.float32)
    rm = simulate_layer(w, a, hardware=_tiny("row-major")).passes["forward"]
    dn = simulate_layer(w, a, hardware=_tiny("dnnsim")).passes["forward"]
    assert (rm.compute_cycles, dn.compute_cycles) == (33, 26)
    assert rm.base_cycles == dn.base_cycles == 192
    assert rm.quantisation == dn.quantisation == "integer"


def test_bad_traversal():
    with pytest.raises(HardwareError, match="traversal"):
        builtin_hardware("bit-tactical").replace(**{"frontend.traversal": "column"})
    with pytest.raises(LoweringError, match="traversal"):
        lower_pass(G, "forward", W, X, lanes=1, traversal="column")
