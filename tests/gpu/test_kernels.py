"""The Triton kernels (all three passes and the format kernels) against the numpy references,
on the device or, without one, on CPU through triton's interpreter (tests/gpu/conftest.py)."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.gpu import GpuError
from accelsim.gpu import reference as R

torch = pytest.importorskip("torch")
pytest.importorskip("triton")

from accelsim.gpu.ops import Blocks, SparseConv, pick_path  # noqa: E402

SMALL = Blocks(q=32, e=16, word_block=2, condense_a=16, tile_q=16, tile_o=16, tile_k=16)
# (N, C, H, W, O, K, stride, padding, dilation, groups)
SHAPES = [
    (2, 5, 7, 6, 3, 3, 2, 1, 1, 1),    # odd sizes, stride 2, padding
    (1, 9, 6, 7, 4, 3, 1, 2, 2, 1),    # dilation 2, padding 2, two bitmap words
    (2, 6, 5, 5, 4, 3, 1, 1, 1, 2),    # two groups
    (1, 12, 5, 5, 17, 1, 1, 0, 1, 1),  # 1x1, two output tiles
    (1, 3, 9, 9, 5, 5, 3, 2, 1, 1),    # 5x5 stride 3
]


def sparse(rng, shape, density):
    a = rng.standard_normal(shape).astype(np.float32)
    a[a == 0] = 1.0
    return np.where(rng.random(shape) < density, a, 0).astype(np.float32)


def close(got, want, tol=2e-5):
    got = got.detach().cpu().numpy().astype(np.float64)
    want = np.asarray(want, dtype=np.float64).reshape(got.shape)
    assert np.abs(got - want).max() <= tol * (1 + np.abs(want).max())


def layer(shape, densities, seed=0):
    n, c, h, w, o, k, s, p, d, g = shape
    rng = np.random.default_rng(seed)
    params = R.ConvParams((s, s), (p, p), (d, d), g)
    x = sparse(rng, (n, c, h, w), densities[1])
    wt = sparse(rng, (o, c // g, k, k), densities[0])
    oh, ow = params.output_size(h, w, k, k)
    grad = rng.standard_normal((n, o, oh, ow)).astype(np.float32)
    return x, wt, grad, params


CASES = [(shape, (0.3, 0.4)) for shape in SHAPES] + [
    (SHAPES[0], (1.0, 1.0)), (SHAPES[2], (1.0, 1.0)),  # all-dense masks
    (SHAPES[0], (0.0, 0.5)), (SHAPES[0], (0.5, 0.0))]  # all-zero weight / activation


@pytest.mark.parametrize(("shape", "densities"), CASES)
def test_three_passes_match_the_dense_references(shape, densities, device):
    x, wt, grad, params = layer(shape, densities, hash((shape, densities)) % 2**32)
    conv = SparseConv(wt.shape, x.shape, params, device, SMALL)
    X, W, G = (torch.from_numpy(a).to(device) for a in (x, wt, grad))
    want = R.dense_conv2d(x, wt, params)
    _, bits = conv.produce(X, "none")
    close(conv.forward(X, bits, conv.condense(W)), want)
    close(conv.forward(X, None, conv.condense(W)), want)
    tiles = conv.condense_tiles(W)
    close(conv.forward(X, bits, tiles, "fp32"), want)
    close(conv.forward(X, bits, tiles, "tf32"), want, 5e-3)
    close(conv.forward(X, bits, tiles, "bf16"), want, 3e-2)
    want_dx = R.dense_conv2d_backward_input(grad, wt, x.shape[2:], params)
    wt_t = conv.condense(W, transpose=True)
    close(conv.backward_input(G, wt_t), want_dx)
    close(conv.backward_input(G, wt_t, bits), want_dx * (x != 0))
    want_dw = R.dense_conv2d_backward_weight(x, grad, wt.shape[2:], params)
    for splits in ((1, 1), (2, 3)):
        close(conv.backward_weight(X, bits, G, splits=splits), want_dw)
    close(conv.backward_weight(X, None, G, conv.condense(W), (2, 1)), want_dw * (wt != 0))


def test_linear_layer_is_a_1x1_convolution(device):
    rng = np.random.default_rng(2)
    x, w = sparse(rng, (37, 70), 0.3), sparse(rng, (9, 70), 0.2)
    g = rng.standard_normal((37, 9)).astype(np.float32)
    conv = SparseConv(w.shape, x.shape, device=device, blocks=SMALL)
    X, W, G = (torch.from_numpy(a).to(device) for a in (x, w, g))
    relu, bits = conv.produce(X, "relu")
    xr = np.maximum(x, 0)
    close(relu, xr, 0)
    np.testing.assert_array_equal(bits.cpu().numpy(), R.activation_bitmap(xr))
    close(conv.forward(relu, bits, conv.condense(W)), xr @ w.T)
    close(conv.forward(relu, bits, conv.condense_tiles(W)), xr @ w.T)
    close(conv.backward_input(G, conv.condense(W, True), bits), (g @ w) * (xr != 0))
    close(conv.backward_weight(relu, bits, G, splits=(1, 2)), g.T @ xr)


@pytest.mark.parametrize("shape", SHAPES[:3])
def test_format_kernels_equal_the_numpy_formats(shape, device):
    x, wt, _, params = layer(shape, (0.3, 0.5), 7)
    wt[0] = 0.0                                   # an empty row
    conv = SparseConv(wt.shape, x.shape, params, device, SMALL)
    tables = R.layer_tables(wt.shape, x.shape, params)
    X, W = torch.from_numpy(x).to(device), torch.from_numpy(wt).to(device)
    for mode, thr in (("relu", 0.0), ("topk", 0.7), ("none", 0.0)):
        y, bits = conv.produce(X, mode, thr)
        want = R.producer(x, mode, thr)
        np.testing.assert_array_equal(y.cpu().numpy(), want)
        np.testing.assert_array_equal(bits.cpu().numpy(), R.activation_bitmap(want))
    for transpose in (False, True):
        got = conv.condense(W, transpose)
        cols, vals, count = R.condense_rows(wt, tables, transpose)
        np.testing.assert_array_equal(got.count.cpu().numpy(), count)
        for r, c in enumerate(count):
            np.testing.assert_array_equal(got.cols[r, :c].cpu().numpy(), cols[r, :c])
            np.testing.assert_array_equal(got.vals[r, :c].cpu().numpy(), vals[r, :c])
    got = conv.condense_tiles(W)
    ucols, uvals, ucount = R.condense_tiles(wt, tables, SMALL.tile_o)
    np.testing.assert_array_equal(got.count.cpu().numpy(), ucount)
    for b, c in enumerate(ucount):
        np.testing.assert_array_equal(got.cols[b, :c].cpu().numpy(), ucols[b, :c])
        np.testing.assert_array_equal(got.vals[b, :c].cpu().numpy(), uvals[b, :c])


def test_bitmap_words_by_hand(device):
    x = np.zeros((1, 2, 5, 7), dtype=np.float32)  # 35 pixels: 2 words per plane
    x[0, 0, 0, 0], x[0, 0, 4, 3], x[0, 1, 4, 6] = 1.0, -2.0, np.nan
    conv = SparseConv((1, 2, 1, 1), x.shape, device=device, blocks=SMALL)
    _, bits = conv.produce(torch.from_numpy(x).to(device), "none")
    words = bits.cpu().numpy().view(np.uint32)
    # pixel 4*7 + 3 = 31 is bit 31 of word 0; pixel 34 (NaN counts as non-zero) bit 2 of word 1
    assert words.tolist() == [[[1 | 1 << 31, 0], [0, 1 << 2]]]
    np.testing.assert_array_equal(R.activation_bitmap(x), bits.cpu().numpy())
    assert R.activation_bitmap(-np.zeros((1, 1, 1, 1), np.float32)).tolist() == [[[0]]]


def test_bad_inputs_are_one_line_errors(device):
    conv = SparseConv((4, 3, 3, 3), (1, 3, 5, 5), device=device, blocks=SMALL)
    x = torch.zeros((1, 3, 5, 5), device=device)
    with pytest.raises(GpuError, match="shape"):
        conv.produce(torch.zeros((1, 3, 4, 5), device=device))
    with pytest.raises(GpuError, match="float32"):
        conv.produce(x.double())
    with pytest.raises(GpuError, match="producer mode"):
        conv.produce(x, "gelu")
    with pytest.raises(GpuError, match="transposed"):
        conv.backward_input(torch.zeros((1, 4, 3, 3), device=device),
                            conv.condense(torch.zeros((4, 3, 3, 3), device=device)))
    with pytest.raises(Exception, match="groups"):
        SparseConv((4, 2, 3, 3), (1, 3, 5, 5), device=device)
    assert pick_path(0.1, "fp32") == "sparse" and pick_path(0.9, "bf16") == "tiles"
    with pytest.raises(GpuError, match="precision"):
        pick_path(0.5, "fp8")
