"""The CUDA kernels against torch's dense results and the numpy references (needs a GPU)."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.gpu import reference as R

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]

from accelsim.gpu import ops  # noqa: E402

# (N, C, H, W, O, K, stride, padding, dilation)
SHAPES = [
    (2, 5, 7, 6, 3, 3, 2, 1, 1), (2, 40, 5, 5, 7, 1, 1, 0, 1), (1, 33, 6, 7, 4, 3, 1, 2, 2),
    (2, 64, 4, 4, 8, 1, 2, 0, 1), (1, 3, 9, 9, 5, 5, 3, 2, 1), (4, 256, 14, 14, 64, 1, 1, 0, 1),
    (2, 64, 15, 15, 128, 3, 2, 1, 1),
]


def sparse(gen, shape, density):
    a = torch.randn(shape, generator=gen)
    return (a * (torch.rand(shape, generator=gen) < density)).float()


def close(got, want):
    tol = 1e-4 * (1 + want.abs().max().item())
    assert got.shape == want.shape
    assert (got - want).abs().max().item() <= tol


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("densities", [(0.1, 0.3), (1.0, 1.0), (0.02, 0.05)])
def test_three_passes_match_torch(shape, densities):
    n, c, h, w, o, k, s, p, d = shape
    gen = torch.Generator().manual_seed(hash((shape, densities)) % 2**31)
    x = sparse(gen, (n, c, h, w), densities[1])
    wt = sparse(gen, (o, c, k, k), densities[0])
    kw = {"stride": s, "padding": p, "dilation": d}
    params = R.ConvParams((s, s), (p, p), (d, d))
    y = torch.nn.functional.conv2d(x.double(), wt.double(), **kw)
    g = torch.randn(y.shape, generator=gen)
    dx = torch.nn.grad.conv2d_input(x.shape, wt.double(), g.double(), **kw)
    dw = torch.nn.grad.conv2d_weight(x.double(), wt.shape, g.double(), **kw)
    xc, wc, gc = x.cuda(), wt.cuda(), g.cuda()
    at = ops.compress_activation(xc)
    close(ops.conv_forward(ops.compress_weight_tiles(wc), at, wt.shape, (h, w), params).cpu(),
          y.float())
    close(ops.conv_backward_input(ops.compress_weight_csr(wc, transpose=True), gc, wt.shape,
                                  (h, w), params).cpu(), dx.float())
    for splits in (1, 3, None):
        close(ops.conv_backward_weight(gc, at, wt.shape, (h, w), params, splits=splits).cpu(),
              dw.float())


def test_compressed_formats_equal_the_reference_bit_for_bit():
    gen = torch.Generator().manual_seed(0)
    x = sparse(gen, (3, 70, 5, 6), 0.3)
    x[1] = 0
    wt = sparse(gen, (9, 70, 3, 3), 0.2)
    wt[4] = 0
    for got, want in ((ops.compress_activation(x.cuda()), R.compress_activation(x.numpy())),
                      (ops.compress_activation(x.permute(0, 2, 3, 1).contiguous().cuda(), "nhwc"),
                       R.compress_activation(x.numpy())),
                      (ops.compress_weight_tiles(wt.cuda()), R.compress_weight_tiles(wt.numpy()))):
        ref = got.to_reference()
        np.testing.assert_array_equal(ref.bitmaps, want.bitmaps)
        np.testing.assert_array_equal(ref.offsets, want.offsets)
        np.testing.assert_array_equal(ref.values, want.values)
    for transpose in (False, True):
        ref = ops.compress_weight_csr(wt.cuda(), transpose).to_reference()
        want = R.compress_weight_csr(wt.numpy(), transpose)
        for a, b in ((ref.row_ptr, want.row_ptr), (ref.col_idx, want.col_idx),
                     (ref.values, want.values)):
            np.testing.assert_array_equal(a, b)


def test_large_scan_and_empty_and_linear():
    gen = torch.Generator().manual_seed(1)
    # > 1024 scan blocks: 4 x 64 x 112 x 112 -> 4*12544*2 tiles
    x = sparse(gen, (4, 64, 112, 112), 0.3).cuda()
    t = ops.compress_activation(x)
    assert t.nnz() == int((x != 0).sum())
    z = torch.zeros(2, 64, 1, 1, device="cuda")
    assert ops.compress_activation(z).nnz() == 0
    xl, wl = sparse(gen, (5, 70), 0.3), sparse(gen, (9, 70), 0.2)
    gl = torch.randn(5, 9, generator=gen)
    at = ops.compress_activation(xl.cuda())
    close(ops.conv_forward(ops.compress_weight_tiles(wl.cuda()), at, wl.shape, (1, 1)).cpu(),
          xl @ wl.T)
    close(ops.conv_backward_input(ops.compress_weight_csr(wl.cuda(), True), gl.cuda(), wl.shape,
                                  (1, 1)).cpu(), gl @ wl)
    close(ops.conv_backward_weight(gl.cuda(), at, wl.shape, (1, 1)).cpu(), gl.T @ xl)


def test_trace_derived_operands(make_trace):
    from accelsim.gpu import bench

    path, _ = make_trace(encoding="fixed16")
    for case in bench.trace_cases(path):
        row = bench.run_case(case, bench.Timer(reps=50, warmup=1), ("dense_fp32",))
        assert row["max_rel_error_vs_fp32"] < 1e-4, (case.layer, case.pass_name)
        assert row["timings"]["ours_total"]["reps"] == 50


def test_synthetic_sweep_smoke(tmp_path):
    from accelsim.gpu import bench

    shape = bench.SyntheticShape(in_channels=64, out_channels=32, size=8, batch=2)
    result = bench.bench_synthetic(shape, [0.5, 0.9], [0.0, 0.7], reps=50, warmup=1)
    assert result["environment"]["gpu"] and result["break_even"]
    assert all(r["max_rel_error_vs_fp32"] < 1e-4 for r in result["rows"])
    bench.write_json(result, tmp_path / "r.json")
