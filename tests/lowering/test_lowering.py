"""Lowering of the training passes to filter x window problems, checked against torch."""

from __future__ import annotations

import itertools
import math
import zlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from accelsim.errors import LoweringError
from accelsim.flops import effectual_macs
from accelsim.lowering.assemble import assemble, dense_lines, pass_output_shape
from accelsim.lowering.lower import LoweredProblem, iter_problems, lower_pass
from accelsim.spec.geometry import LayerGeometry, conv_output_size

PASSES = ("forward", "backward_input", "backward_weight")
BATCH = 2


def conv(name, cin, cout, k, s=1, p=0, d=1, groups=1, hw=(7, 5)) -> LayerGeometry:
    def pair(v):
        return (v, v) if isinstance(v, int) else v
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (h, w) = map(pair, (k, s, p, d, hw))
    return LayerGeometry(name=name, kind="conv", in_channels=cin, out_channels=cout,
                         kernel_h=kh, kernel_w=kw, stride_h=sh, stride_w=sw, padding_h=ph,
                         padding_w=pw, dilation_h=dh, dilation_w=dw, groups=groups,
                         input_h=h, input_w=w, output_h=conv_output_size(h, kh, sh, ph, dh),
                         output_w=conv_output_size(w, kw, sw, pw, dw))


LAYERS = [
    conv("3x3s1p1", 5, 6, 3, 1, 1),
    conv("3x3s2p1", 4, 6, 3, 2, 1),
    conv("1x1s2p0", 6, 8, 1, 2, 0, hw=(7, 7)),              # ResNet downsample
    conv("7x7s2p3", 3, 8, 7, 2, 3, hw=(11, 9)),             # stem, in = 3
    conv("3x1s21p10", 4, 5, (3, 1), (2, 1), (1, 0)),
    conv("dil2", 4, 5, 3, 1, 2, d=2),
    conv("dil2s2", 4, 5, 3, 2, 1, d=2, hw=(9, 8)),          # even input pixels get no taps
    conv("groups2", 4, 6, 3, 1, 1, groups=2),
    conv("depthwise", 8, 8, 3, 2, 1, groups=8),
    conv("in20", 20, 7, 3, 1, 1, hw=(5, 6)),
    conv("s2p0", 3, 4, 3, 2, 0, hw=(8, 8)),                 # last input row/col get no grad
    conv("pad_gt_reach", 3, 4, 3, 1, 3, hw=(4, 5)),         # dil*(K-1) - pad < 0: crop
    conv("mixed", 5, 6, (5, 3), (1, 3), (3, 0), d=(2, 1), hw=(9, 10)),
    conv("big_stride", 3, 2, 3, 3, 1, hw=(2, 8)),           # fewer input rows than stride
    LayerGeometry(name="fc", kind="linear", in_channels=20, out_channels=7),
]
IDS = [g.name for g in LAYERS]


def operands(g: LayerGeometry, rng: np.random.Generator, density: float = 1.0):
    def draw(shape):
        a = rng.standard_normal(shape)
        return np.where(rng.random(shape) < density, a, 0.0)
    return draw(g.weight_shape()), draw(g.activation_shape(BATCH)), draw(g.grad_shape(BATCH))


def pass_operands(pass_name, w, a, grad):
    return {"forward": (w, a), "backward_input": (w, grad), "backward_weight": (a, grad)}[pass_name]


def torch_reference(g: LayerGeometry, w, a, grad) -> dict[str, np.ndarray]:
    wt = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    at = torch.tensor(a, dtype=torch.float64, requires_grad=True)
    if g.kind == "linear":
        y = F.linear(at, wt)
    else:
        y = F.conv2d(at, wt, stride=(g.stride_h, g.stride_w),
                     padding=(g.padding_h, g.padding_w),
                     dilation=(g.dilation_h, g.dilation_w), groups=g.groups)
    y.backward(torch.tensor(grad, dtype=torch.float64))
    return {"forward": y.detach().numpy(), "backward_input": at.grad.numpy(),
            "backward_weight": wt.grad.numpy()}


@pytest.mark.parametrize("lanes", [16, 4])
@pytest.mark.parametrize("g", LAYERS, ids=IDS)
def test_assemble_matches_torch(g, lanes):
    rng = np.random.default_rng([zlib.crc32(g.name.encode()), lanes])
    w, a, grad = operands(g, rng, density=0.7)
    ref = torch_reference(g, w, a, grad)
    for pass_name in PASSES:
        problems = lower_pass(g, pass_name, *pass_operands(pass_name, w, a, grad), lanes=lanes)
        got = assemble(g, pass_name, problems, BATCH)
        assert got.shape == ref[pass_name].shape == pass_output_shape(g, pass_name, BATCH)
        assert got.dtype == np.float64
        scale = max(1.0, float(np.abs(ref[pass_name]).max()))
        np.testing.assert_allclose(got, ref[pass_name], rtol=1e-9, atol=1e-9 * scale,
                                   err_msg=f"{g.name} {pass_name} lanes={lanes}")


@pytest.mark.parametrize("g", LAYERS, ids=IDS)
def test_generator_assembles_like_list(g):
    rng = np.random.default_rng(1)
    w, a, grad = operands(g, rng)
    for pass_name in PASSES:
        ops = pass_operands(pass_name, w, a, grad)
        gen = iter_problems(g, pass_name, *ops, lanes=8)
        assert not isinstance(gen, list)
        np.testing.assert_array_equal(assemble(g, pass_name, gen, BATCH),
                                      assemble(g, pass_name, lower_pass(g, pass_name, *ops,
                                                                        lanes=8), BATCH))


@pytest.mark.parametrize("lanes", [16, 4, 1, 3])
@pytest.mark.parametrize("g", LAYERS, ids=IDS)
def test_layouts_and_dense_lines(g, lanes):
    rng = np.random.default_rng(2)
    w, a, grad = operands(g, rng)
    G = g.groups
    cg, mg = g.in_channels // G, g.out_channels // G
    conv_layer = g.kind == "conv"

    fwd = lower_pass(g, "forward", w, a, lanes=lanes)
    lines = g.kernel_h * g.kernel_w * math.ceil(cg / lanes)
    assert dense_lines(g, "forward", lanes=lanes) == lines
    per = 1 if conv_layer else BATCH
    assert len(fwd) == BATCH // per * G
    for p in fwd:
        n0, n1 = p.tag[1:3]
        assert p.tag[0] == "forward" and n1 - n0 == per
        assert p.filters.shape == (mg, lines, lanes)
        assert p.windows.shape == (per * g.output_h * g.output_w, lines, lanes)

    bw = lower_pass(g, "backward_weight", a, grad, lanes=lanes)
    lines = math.ceil(g.output_h * g.output_w / lanes)
    assert dense_lines(g, "backward_weight", lanes=lanes) == lines
    assert len(bw) == BATCH * G * g.kernel_h * g.kernel_w
    assert {p.tag for p in bw} == {("backward_weight", n, n + 1, gi, ky, kx) for n, gi, ky, kx
                                   in itertools.product(range(BATCH), range(G),
                                                        range(g.kernel_h), range(g.kernel_w))}
    for p in bw:
        assert p.filters.shape == (mg, lines, lanes)
        assert p.windows.shape == (cg, lines, lanes)

    bi = lower_pass(g, "backward_input", w, grad, lanes=lanes)
    chunks = math.ceil(mg / lanes)
    seen = 0
    for _key, group in itertools.groupby(bi, key=lambda p: p.tag[1:4:2]):  # (n0, group)
        group = list(group)
        seen += 1
        assert sum(p.lines for p in group) == dense_lines(g, "backward_input", lanes=lanes)
        assert sum(p.n_windows for p in group) <= per * g.input_h * g.input_w
        for p in group:
            assert p.filters.shape[0] == cg and p.lines % chunks == 0
            py, px = p.tag[4:6]
            ny = len(range(py, g.input_h, g.stride_h))
            nx = len(range(px, g.input_w, g.stride_w))
            assert p.n_windows == per * ny * nx
    assert seen == BATCH // per * G
    if g.stride_h == g.stride_w == 1:
        assert all(p.lines == g.kernel_h * g.kernel_w * chunks for p in bi)
        assert all(p.n_windows == per * g.input_h * g.input_w for p in bi)


@pytest.mark.parametrize("g", LAYERS, ids=IDS)
def test_masks_lower_like_values(g):
    rng = np.random.default_rng(3)
    w, a, grad = operands(g, rng, density=0.5)
    for pass_name in PASSES:
        x, y = pass_operands(pass_name, w, a, grad)
        values = lower_pass(g, pass_name, x.astype(np.float32), y.astype(np.float32), lanes=4)
        masks = lower_pass(g, pass_name, x != 0, y != 0, lanes=4)
        assert len(values) == len(masks)
        for pv, pm in zip(values, masks, strict=True):
            assert pv.tag == pm.tag
            assert pv.filters.dtype == np.float32 and pm.filters.dtype == np.bool_
            assert pv.windows.dtype == np.float32 and pm.windows.dtype == np.bool_
            np.testing.assert_array_equal(pv.filters != 0, pm.filters)
            np.testing.assert_array_equal(pv.windows != 0, pm.windows)
        # the products the lowering makes are exactly the pass's effectual products
        counts = assemble(g, pass_name, masks, BATCH)
        assert counts.dtype == np.int64
        assert counts.sum() == effectual_macs(g, pass_name, x, y)


def _valid_taps(size_in, size_out, kernel, stride, pad, dil) -> int:
    """Number of (k, o) pairs whose input position o*stride + k*dil - pad is inside."""
    k = np.arange(kernel)[:, None]
    o = np.arange(size_out)[None, :]
    pos = o * stride + k * dil - pad
    return int(((pos >= 0) & (pos < size_in)).sum())


@pytest.mark.parametrize("lanes", [16, 3])
@pytest.mark.parametrize("g", LAYERS, ids=IDS)
def test_backward_input_products_land_inside_input(g, lanes):
    w = np.ones(g.weight_shape())
    grad = np.ones(g.grad_shape(BATCH))
    products = 0
    for p in iter_problems(g, "backward_input", w, grad, lanes=lanes):
        f = (p.filters != 0).reshape(p.n_filters, -1).astype(np.int64)
        x = (p.windows != 0).reshape(p.n_windows, -1).astype(np.int64)
        products += int((f @ x.T).sum())
    cg = g.in_channels // g.groups
    want = (BATCH * g.out_channels * cg
            * _valid_taps(g.input_h, g.output_h, g.kernel_h, g.stride_h, g.padding_h,
                          g.dilation_h)
            * _valid_taps(g.input_w, g.output_w, g.kernel_w, g.stride_w, g.padding_w,
                          g.dilation_w))
    assert products == want


def test_input_pixels_no_tap_reaches_get_zero_gradient():
    g = conv("s2p0", 2, 3, 3, 2, 0, hw=(8, 8))  # rows/cols 7 are never read
    rng = np.random.default_rng(4)
    w, _, grad = operands(g, rng)
    dx = assemble(g, "backward_input", lower_pass(g, "backward_input", w, grad, lanes=4), BATCH)
    assert np.all(dx[:, :, 7, :] == 0) and np.all(dx[:, :, :, 7] == 0)
    assert np.any(dx[:, :, 6, :] != 0)
    g = conv("dil2s2", 2, 3, 3, 2, 1, d=2, hw=(9, 8))  # taps only reach odd pixels
    w, _, grad = operands(g, rng)
    problems = lower_pass(g, "backward_input", w, grad, lanes=4)
    assert {p.tag[4:6] for p in problems} == {(1, 1)}
    dx = assemble(g, "backward_input", problems, BATCH)
    assert np.all(dx[:, :, 0::2, :] == 0) and np.all(dx[:, :, :, 0::2] == 0)


def test_forward_layout_by_hand():
    # 2 input channels, lanes 4: lines are (ky, kx, chunk) with channels in the lanes
    g = conv("hand", 2, 1, 2, 1, 0, hw=(3, 3))
    w = np.arange(1.0, 9.0).reshape(1, 2, 2, 2)  # [m, c, ky, kx]
    a = np.arange(18.0).reshape(1, 2, 3, 3)
    (p,) = lower_pass(g, "forward", w, a, lanes=4)
    assert p.tag == ("forward", 0, 1, 0)
    np.testing.assert_array_equal(p.filters[0], [[1, 5, 0, 0], [2, 6, 0, 0], [3, 7, 0, 0],
                                                 [4, 8, 0, 0]])
    # window 1 is output pixel (y=0, x=1): taps at input (0,1), (0,2), (1,1), (1,2)
    np.testing.assert_array_equal(p.windows[1], [[1, 10, 0, 0], [2, 11, 0, 0], [4, 13, 0, 0],
                                                 [5, 14, 0, 0]])


def test_backward_weight_layout_by_hand():
    g = conv("hand", 1, 1, 2, 2, 1, hw=(3, 3))  # output 2x2; padded input 5x5
    a = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    grad = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    problems = lower_pass(g, "backward_weight", a, grad, lanes=3)
    assert [p.tag for p in problems] == [("backward_weight", 0, 1, 0, ky, kx)
                                         for ky in range(2) for kx in range(2)]
    np.testing.assert_array_equal(problems[0].filters[0], [[1, 2, 3], [4, 0, 0]])
    # tap (1, 1): padded positions (1,1), (1,3), (3,1), (3,3) -> input (0,0), (0,2), (2,0), (2,2)
    np.testing.assert_array_equal(problems[3].windows[0], [[1, 3, 7], [9, 0, 0]])


def test_backward_input_layout_by_hand():
    # stride 1, pad 1, 2x2 kernel: rotated kernel, grad padded by dil*(K-1) - pad = 0
    g = conv("hand", 1, 2, 2, 1, 1, hw=(2, 2))  # output 3x3
    w = np.arange(1.0, 9.0).reshape(2, 1, 2, 2)  # [m, c, ky, kx]
    grad = np.arange(18.0).reshape(1, 2, 3, 3)
    (p,) = lower_pass(g, "backward_input", w, grad, lanes=2)
    assert p.tag == ("backward_input", 0, 1, 0, 0, 0)
    # line (y', x') holds W[m, 0, 1-y', 1-x'] over m in the lanes
    np.testing.assert_array_equal(p.filters[0], [[4, 8], [3, 7], [2, 6], [1, 5]])
    # input pixel (0, 1) reads grad at (0+y', 1+x')
    np.testing.assert_array_equal(p.windows[1], [[1, 10], [2, 11], [4, 13], [5, 14]])
    # stride 2: phase (1, 0) of a 3x3 s2 p1 kernel has taps ky in (2, 0), kx in (1,)
    g = conv("hand2", 1, 1, 3, 2, 1, hw=(4, 4))  # output 2x2
    w = np.arange(9.0).reshape(1, 1, 3, 3)
    grad = np.arange(1.0, 5.0).reshape(1, 1, 2, 2)
    problems = {p.tag[4:6]: p for p in lower_pass(g, "backward_input", w, grad, lanes=1)}
    assert sorted(problems) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    p = problems[1, 0]
    np.testing.assert_array_equal(p.filters[0, :, 0], [w[0, 0, 2, 1], w[0, 0, 0, 1]])
    # input pixel (1, 2) = window (j=0, i=1): grad (0, 1) via ky=2, grad (1, 1) via ky=0
    assert p.n_windows == 4
    np.testing.assert_array_equal(p.windows[1, :, 0], [grad[0, 0, 0, 1], grad[0, 0, 1, 1]])


def test_samples_per_problem():
    g = LAYERS[0]
    rng = np.random.default_rng(5)
    w, a, grad = operands(g, rng)
    ref = torch_reference(g, w, a, grad)
    for pass_name in ("forward", "backward_input"):
        ops = pass_operands(pass_name, w, a, grad)
        problems = lower_pass(g, pass_name, *ops, lanes=4, samples_per_problem=BATCH)
        assert all(p.tag[1:3] == (0, BATCH) for p in problems)
        np.testing.assert_allclose(assemble(g, pass_name, problems, BATCH), ref[pass_name],
                                   rtol=1e-9, atol=1e-12)
    with pytest.raises(LoweringError):
        lower_pass(g, "forward", w, a, lanes=4, samples_per_problem=0)


def test_bad_inputs():
    g = LAYERS[0]
    rng = np.random.default_rng(6)
    w, a, grad = operands(g, rng)
    with pytest.raises(LoweringError):
        lower_pass(g, "sideways", w, a, lanes=4)
    with pytest.raises(LoweringError):
        lower_pass(g, "forward", w, a, lanes=0)
    with pytest.raises(LoweringError):
        iter_problems(g, "forward", w, a[:, :2], lanes=4)  # checked before the first problem
    with pytest.raises(LoweringError):
        lower_pass(g, "backward_weight", a, grad[:1], lanes=4)
    with pytest.raises(LoweringError):
        lower_pass(g, "backward_input", a, grad, lanes=4)
    problems = lower_pass(g, "forward", w, a, lanes=4)
    with pytest.raises(LoweringError):
        assemble(g, "backward_input", problems, BATCH)
    with pytest.raises(LoweringError):
        LoweredProblem(np.zeros((2, 3, 4)), np.zeros((2, 3, 5)), ("forward", 0, 1, 0))
    assert assemble(g, "forward", [], BATCH).shape == g.grad_shape(BATCH)
