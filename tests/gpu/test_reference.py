"""The numpy references of the GPU kernels (same formats, same algorithms) against dense
convolution, on random and trace-derived tensors."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.errors import ConfigError
from accelsim.gpu import reference as R
from accelsim.trace import open_trace

# (N, C, H, W, O, K, stride, padding, dilation)
SHAPES = [
    (2, 5, 7, 6, 3, 3, 2, 1, 1),      # odd sizes, stride 2
    (2, 40, 5, 5, 7, 1, 1, 0, 1),     # 1x1, channels across two tiles
    (1, 33, 6, 7, 4, 3, 1, 2, 2),     # dilation, padding 2, 33 channels
    (2, 64, 4, 4, 8, 1, 2, 0, 1),     # strided 1x1 (skips pixels)
    (1, 3, 9, 9, 5, 5, 3, 2, 1),      # 5x5 stride 3 (first-layer-like)
]


def sparse(rng, shape, density):
    a = rng.standard_normal(shape).astype(np.float32)
    return np.where(rng.random(shape) < density, a, 0).astype(np.float32)


def run_all(x, w, g, params):
    n, c, h, wd = R.as_nchw(x).shape
    y = R.conv_forward(R.compress_weight_tiles(w), R.compress_activation(x), w.shape, (h, wd),
                       params)
    dx = R.conv_backward_input(R.compress_weight_csr(w, transpose=True), g, w.shape, (h, wd),
                               params)
    dw = R.conv_backward_weight(g, R.compress_activation(x), w.shape, (h, wd), params)
    return y, dx, dw


def check_against_dense(x, w, g, params):
    x4, w4 = R.as_nchw(x), R.as_nchw(w)
    y, dx, dw = run_all(x, w, g, params)
    hw = x4.shape[2:]
    want_y = R.dense_conv2d(x4, w4, params)
    want_dx = R.dense_conv2d_backward_input(g, w4, hw, params)
    want_dw = R.dense_conv2d_backward_weight(x4, g, w4.shape[2:], params)
    for got, want in ((y.reshape(want_y.shape), want_y), (dx.reshape(want_dx.shape), want_dx),
                      (dw.reshape(w4.shape), want_dw)):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * (1 + np.abs(want).max()))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("densities", [(0.3, 0.4), (1.0, 1.0), (0.1, 0.05)])
def test_passes_match_dense_convolution(shape, densities):
    n, c, h, w, o, k, s, p, d = shape
    rng = np.random.default_rng(hash((shape, densities)) % 2**32)
    params = R.ConvParams((s, s), (p, p), (d, d))
    oh, ow = params.output_size(h, w, k, k)
    x = sparse(rng, (n, c, h, w), densities[1])
    wt = sparse(rng, (o, c, k, k), densities[0])
    g = rng.standard_normal((n, o, oh, ow)).astype(np.float32)
    check_against_dense(x, wt, g, params)


def test_empty_rows_channels_and_samples():
    rng = np.random.default_rng(1)
    params = R.ConvParams((1, 1), (1, 1))
    x = sparse(rng, (3, 35, 5, 4), 0.5)
    x[1] = 0.0                     # a whole sample empty
    x[:, 7] = 0.0                  # a channel empty everywhere
    w = sparse(rng, (6, 35, 3, 3), 0.3)
    w[2] = 0.0                     # an output channel (CSR row / tile row) empty
    w[:, 11] = 0.0                 # an input channel empty: empty transposed CSR row
    g = rng.standard_normal((3, 6, 5, 4)).astype(np.float32)
    check_against_dense(x, w, g, params)
    y, dx, dw = run_all(x, w, g, params)
    assert not y[:, 2].any() and not y[1].any()
    assert not dx[:, 11].any() and not dw[:, 7].any()
    # everything zero: zero outputs, nnz 0
    z = np.zeros_like(x)
    assert R.compress_activation(z).nnz == 0
    assert not any(a.any() for a in run_all(z, np.zeros_like(w), g, params)[::2])


def test_linear_layer():
    rng = np.random.default_rng(2)
    x, w = sparse(rng, (5, 70), 0.3), sparse(rng, (9, 70), 0.2)
    g = rng.standard_normal((5, 9)).astype(np.float32)
    y, dx, dw = run_all(x, w, g, R.UNIT)
    np.testing.assert_allclose(y, x @ w.T, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dx, g @ w, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dw, g.T @ x, rtol=1e-5, atol=1e-5)


def test_tile_format_by_hand():
    x = np.zeros((1, 34, 1, 2), dtype=np.float32)   # N=1, C=34 (2 tiles), 2 pixels
    x[0, 0, 0, 0], x[0, 3, 0, 0], x[0, 33, 0, 0] = 1.0, 2.0, 3.0
    x[0, 31, 0, 1] = 4.0
    t = R.compress_activation(x)
    # tiles (n, pixel, cb): (0,0,0) (0,0,1) (0,1,0) (0,1,1)
    assert t.bitmaps.tolist() == [0b1001, 0b10, 1 << 31, 0]
    assert t.offsets.tolist() == [0, 2, 3, 4, 4]
    assert t.values.tolist() == [1.0, 2.0, 3.0, 4.0]
    assert t.bitmaps.dtype == np.uint32 and t.offsets.dtype == np.int32
    np.testing.assert_array_equal(R.decompress_tiles(t).reshape(x.shape), x)
    # NHWC input gives the identical structure
    nhwc = R.compress_activation(x.transpose(0, 2, 3, 1), layout="nhwc")
    for a, b in ((nhwc.bitmaps, t.bitmaps), (nhwc.offsets, t.offsets), (nhwc.values, t.values)):
        np.testing.assert_array_equal(a, b)
    # -0.0 is zero; NaN is a non-zero, as in the kernels (v != 0.0f)
    y = np.array([[[[-0.0]], [[np.nan]]]], dtype=np.float32)
    assert R.compress_activation(y).bitmaps.tolist() == [0b10]


def test_csr_format_by_hand():
    w = np.zeros((2, 3, 1, 2), dtype=np.float32)   # O=2, C=3, K=2
    w[0, 1, 0, 1], w[1, 0, 0, 0], w[1, 2, 0, 1] = 1.0, 2.0, 3.0
    m = R.compress_weight_csr(w)
    assert (m.row_ptr.tolist(), m.col_idx.tolist(), m.values.tolist()) == \
        ([0, 1, 3], [3, 0, 5], [1.0, 2.0, 3.0])   # j = c*K + k
    t = R.compress_weight_csr(w, transpose=True)
    assert (t.row_ptr.tolist(), t.col_idx.tolist(), t.values.tolist()) == \
        ([0, 1, 2, 3], [2, 1, 3], [2.0, 1.0, 3.0])  # rows c, j = o*K + k
    np.testing.assert_array_equal(R.decompress_csr(m).reshape(w.shape), w)


def test_dense_references_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    for n, c, h, w, o, k, s, p, d in SHAPES:
        params = R.ConvParams((s, s), (p, p), (d, d))
        x = rng.standard_normal((n, c, h, w)).astype(np.float32)
        wt = rng.standard_normal((o, c, k, k)).astype(np.float32)
        kw = {"stride": s, "padding": p, "dilation": d}
        y = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(wt), **kw)
        g = rng.standard_normal(tuple(y.shape)).astype(np.float32)
        dx = torch.nn.grad.conv2d_input(x.shape, torch.from_numpy(wt), torch.from_numpy(g), **kw)
        dw = torch.nn.grad.conv2d_weight(torch.from_numpy(x), wt.shape, torch.from_numpy(g), **kw)
        np.testing.assert_allclose(R.dense_conv2d(x, wt, params), y.numpy(), atol=1e-4)
        np.testing.assert_allclose(R.dense_conv2d_backward_input(g, wt, (h, w), params),
                                   dx.numpy(), atol=1e-4)
        np.testing.assert_allclose(R.dense_conv2d_backward_weight(x, g, (k, k), params),
                                   dw.numpy(), atol=1e-4)


def test_trace_derived_operands(make_trace):
    path, _ = make_trace(encoding="fixed16")
    seen = 0
    with open_trace(path) as tr:
        for ld in tr.iter_layers():
            g = ld.geometry
            if g.groups != 1:
                with pytest.raises(ConfigError, match="groups = 1"):
                    R.ConvParams.from_geometry(g)
                continue
            params = R.ConvParams.from_geometry(g)
            w = ld.operand("forward", "weight")
            x = ld.operand("forward", "activation")
            grad = ld.operand("backward_input", "grad")
            saved = ld.operand("backward_weight", "activation")
            assert np.array_equal(R.compress_activation(x).bitmaps,
                                  R.compress_tiles(R.as_nchw(ld.mask("forward", "activation"))
                                                   .reshape(x.shape[0], x.shape[1], -1)
                                                   .astype(np.float32)).bitmaps)
            check_against_dense(x, w, grad, params)
            check_against_dense(saved, w, grad, params)
            seen += 1
    assert seen == 3


def test_shape_mismatch_is_a_one_line_error():
    rng = np.random.default_rng(4)
    x, w = sparse(rng, (1, 4, 3, 3), 0.5), sparse(rng, (2, 5, 1, 1), 0.5)
    with pytest.raises(ConfigError, match="do not match"):
        R.conv_forward(R.compress_weight_tiles(w), R.compress_activation(x), w.shape, (3, 3))
    with pytest.raises(ConfigError, match="does not fit"):
        R.ConvParams().output_size(2, 2, 3, 3)
