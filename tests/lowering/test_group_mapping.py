"""``[frontend] group_mapping``: DNNsim's depthwise mapping (accelsim.lowering.lower), exact
against torch, laid out as DNNsim lays it (``OutputStationary::configure_layer``), and cycles
worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from accelsim.errors import HardwareError, LoweringError
from accelsim.lowering.assemble import assemble
from accelsim.lowering.lower import depthwise_chunk, lower_pass, window_source_elements
from accelsim.simulate import simulate_operands
from accelsim.spec.geometry import LayerGeometry, conv_output_size
from accelsim.spec.hardware import builtin_hardware

PASSES = ("forward", "backward_input", "backward_weight")


def conv(cin, cout, k, s=1, p=0, d=1, groups=1, hw=(6, 6), name="dw") -> LayerGeometry:
    h, w = hw
    return LayerGeometry(name=name, kind="conv", in_channels=cin, out_channels=cout,
                         kernel_h=k, kernel_w=k, stride_h=s, stride_w=s, padding_h=p,
                         padding_w=p, dilation_h=d, dilation_w=d, groups=groups, input_h=h,
                         input_w=w, output_h=conv_output_size(h, k, s, p, d),
                         output_w=conv_output_size(w, k, s, p, d))


DEPTHWISE = [conv(8, 8, 3, 2, 1, groups=8, hw=(7, 5)), conv(20, 20, 3, 1, 1, groups=20),
             conv(6, 12, 3, 1, 2, d=2, groups=6, hw=(5, 7)),  # two filters per channel
             conv(17, 17, 1, groups=17, hw=(2, 3))]


@pytest.mark.parametrize("traversal", ["dnnsim", "row-major"])
@pytest.mark.parametrize(("lanes", "rows"), [(16, 16), (4, 16), (16, 3), (5, None)])
@pytest.mark.parametrize("g", DEPTHWISE, ids=lambda g: f"{g.in_channels}-{g.out_channels}")
def test_depthwise_assembles_like_torch(g, lanes, rows, traversal):
    rng = np.random.default_rng(g.out_channels * 100 + lanes)
    w = rng.standard_normal(g.weight_shape()) * (rng.random(g.weight_shape()) < 0.7)
    a = rng.standard_normal(g.activation_shape(2))
    ref = F.conv2d(torch.tensor(a), torch.tensor(w), stride=g.stride_h, padding=g.padding_h,
                   dilation=g.dilation_h, groups=g.groups).numpy()
    problems = lower_pass(g, "forward", w, a, lanes=lanes, traversal=traversal,
                          group_mapping="dnnsim", rows=rows)
    chunk = min(lanes, rows or lanes)
    assert len(problems) == 2 * -(-g.out_channels // chunk)
    for p in problems:
        assert p.n_filters <= chunk and p.lines == g.kernel_h * g.kernel_w
        assert p.held is not None and p.held.sum() == p.n_filters * p.lines
    got = assemble(g, "forward", problems, 2, traversal=traversal)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9)


def test_depthwise_layout_by_hand():
    """Two filters per channel over 3 channels, 1x1 kernel on a 1x2 image, 4 lanes: chunks of
    filters 0-3 and 4-5; filter i's weight in lane i, window lane i its channel i // 2."""
    g = conv(3, 6, 1, groups=3, hw=(1, 2))
    w = np.arange(1, 7, dtype=float).reshape(6, 1, 1, 1)
    a = np.array([10.0, 20.0, 30.0])[None, :, None, None] * np.array([1.0, 2.0])
    p0, p1 = lower_pass(g, "forward", w, a, lanes=4, group_mapping="dnnsim")
    assert p0.tag == ("forward", 0, 1, 0, 0, 4) and p1.tag == ("forward", 0, 1, 1, 4, 6)
    np.testing.assert_array_equal(p0.filters[:, 0], np.diag([1.0, 2, 3, 4]))
    np.testing.assert_array_equal(p1.filters[:, 0], [[5.0, 0, 0, 0], [0, 6, 0, 0]])
    np.testing.assert_array_equal(p0.held[:, 0], np.eye(4, dtype=bool))
    np.testing.assert_array_equal(p0.windows[:, 0], [[10.0, 10, 20, 20], [20, 20, 40, 40]])
    np.testing.assert_array_equal(p1.windows[:, 0], [[30.0, 30, 0, 0], [60, 60, 0, 0]])
    assert window_source_elements(g, p0.tag) == 2 * 2 and window_source_elements(g, p1.tag) == 2


@pytest.mark.parametrize("g", [conv(8, 8, 3, 1, 1, groups=2), conv(8, 16, 3, 1, 1, groups=4),
                               conv(4, 6, 3), conv(1, 4, 3, 1, 1), DEPTHWISE[0]])
def test_other_layers_and_backward_passes_stay_per_group(g):
    rng = np.random.default_rng(3)
    w, a = rng.standard_normal(g.weight_shape()), rng.standard_normal(g.activation_shape(1))
    grad = rng.standard_normal(g.grad_shape(1))
    ops = {"forward": (w, a), "backward_input": (w, grad), "backward_weight": (a, grad)}
    depthwise = g.in_channels == g.groups > 1
    for pass_name in PASSES:
        assert bool(depthwise_chunk(g, pass_name, "dnnsim", 16, 16)) == (
            depthwise and pass_name == "forward")
        if depthwise and pass_name == "forward":
            continue
        old = lower_pass(g, pass_name, *ops[pass_name], lanes=16)
        new = lower_pass(g, pass_name, *ops[pass_name], lanes=16, group_mapping="dnnsim")
        assert [p.tag for p in old] == [p.tag for p in new]
        assert all(np.array_equal(o.filters, n.filters) and np.array_equal(o.windows, n.windows)
                   and n.held is None for o, n in zip(old, new, strict=True))


def _cycles(builtin: str, g: LayerGeometry, w, a, mapping: str, **changes) -> int:
    hw = builtin_hardware(builtin).replace(**{"frontend.group_mapping": mapping,
                                              "frontend.schedule": "weights",
                                              "frontend.priority": "most-flexible", **changes})
    rep = simulate_operands(g, {"forward": {"weight": w, "activation": a}}, hw, ("forward",))
    return rep.passes["forward"].compute_cycles


def test_cycles_by_hand_bit_parallel():
    """16 channels, 1x1, 2x2 outputs on DaDianNao (1 column): DNNsim's mapping runs the 16
    channels on the 16 rows at once, one window a cycle -> 4 cycles; a group a problem: 16 x 4.
    A 3x3 kernel on one window: 9 lines dense; T<2,5> lets each row take its next two taps
    through the lookaside (1, +-1) and (2, +-2) and skips the two emptied lines -> 3 steps."""
    g = conv(16, 16, 1, groups=16, hw=(2, 2))
    w, a = np.ones(g.weight_shape()), np.ones(g.activation_shape(1))
    assert _cycles("dadiannao", g, w, a, "dnnsim") == 4
    assert _cycles("dadiannao", g, w, a, "per-group") == 64
    g3 = conv(16, 16, 3, groups=16, hw=(3, 3))
    w3, a3 = np.ones(g3.weight_shape()), np.ones(g3.activation_shape(1))
    assert _cycles("dadiannao", g3, w3, a3, "dnnsim") == 9
    assert _cycles("bit-tactical", g3, w3, a3, "dnnsim") == 3
    assert _cycles("bit-tactical", g3, w3, a3, "per-group") == 16 * 3


def test_cycles_by_hand_bit_serial():
    """TCLp, dense front end, 16 channels 1x1 on 2x2 pixels, channel c's activations all c + 1:
    one step costs the largest precision, bit_length(16) = 5; a group a problem pays each
    channel's own, 1 + 2*2 + 3*4 + 4*8 + 5 = 54.  TCLe on two channels holding 1 and 256
    (terms 2^0 and 2^8, too far apart for one 2-bit first stage): with weight skipping each
    row reads only its own lane -> 1 cycle; the dense front end feeds every lane of a row, as
    DNNsim's does -> 2."""
    g = conv(16, 16, 1, groups=16, hw=(2, 2))
    w = np.ones(g.weight_shape())
    a = np.broadcast_to(np.arange(1.0, 17)[None, :, None, None], g.activation_shape(1)).copy()
    dense = {"frontend.kind": "dense"}
    assert _cycles("bit-tactical-tclp", g, w, a, "dnnsim", **dense) == 5
    assert _cycles("bit-tactical-tclp", g, w, a, "per-group", **dense) == 54
    g2 = conv(2, 2, 1, groups=2, hw=(1, 1))
    w2, a2 = np.ones(g2.weight_shape()), np.array([1.0, 256.0]).reshape(1, 2, 1, 1)
    assert _cycles("bit-tactical-tcle", g2, w2, a2, "dnnsim") == 1
    assert _cycles("bit-tactical-tcle", g2, w2, a2, "dnnsim", **dense) == 2


def test_option_is_validated_and_late():
    hw = builtin_hardware("bit-tactical")
    assert hw.frontend.group_mapping == "dnnsim"
    assert "group_mapping" not in hw.to_dict()["frontend"]
    old = hw.replace(**{"frontend.group_mapping": "per-group"})
    assert old.to_dict()["frontend"]["group_mapping"] == "per-group"
    assert old.digest() != hw.digest()
    with pytest.raises(HardwareError, match="group_mapping"):
        hw.replace(**{"frontend.group_mapping": "diagonal"})
    with pytest.raises(LoweringError, match="group_mapping"):
        lower_pass(DEPTHWISE[0], "forward", np.ones(DEPTHWISE[0].weight_shape()),
                   np.ones(DEPTHWISE[0].activation_shape(1)), lanes=4, group_mapping="x")


def test_groups_of_a_sample_chain_their_tcle_columns():
    """Under ``"dnnsim"`` TCLe's columns run on from one group of a sample to the next (one
    column register lets a column start the next group's first step early), so a 2-group
    layer takes at most its per-group cycles; an ungrouped layer is one problem a sample and
    takes the same under both; TCLp synchronises every step anyway."""
    rng = np.random.default_rng(0)
    g = conv(8, 8, 3, 1, 0, groups=2, hw=(9, 9))
    w = rng.integers(-127, 128, g.weight_shape()).astype(float)
    a = rng.integers(0, 256, g.activation_shape(1)).astype(float)
    a[rng.random(a.shape) < 0.4] = 0
    dense = {"frontend.kind": "dense"}
    chained = _cycles("bit-tactical-tcle", g, w, a, "dnnsim", **dense)
    alone = _cycles("bit-tactical-tcle", g, w, a, "per-group", **dense)
    assert chained < alone  # 266 vs 269
    assert (_cycles("bit-tactical-tclp", g, w, a, "dnnsim", **dense)
            == _cycles("bit-tactical-tclp", g, w, a, "per-group", **dense))
    g1 = conv(8, 8, 3, 1, 0, hw=(9, 9))
    w1 = rng.integers(-127, 128, g1.weight_shape()).astype(float)
    assert (_cycles("bit-tactical-tcle", g1, w1, a, "dnnsim", **dense)
            == _cycles("bit-tactical-tcle", g1, w1, a, "per-group", **dense))
