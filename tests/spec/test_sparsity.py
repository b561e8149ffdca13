"""Per-layer sparsity distributions: uniform, overrides, ERK budget solved by hand."""

from __future__ import annotations

import math

import pytest

from accelsim.errors import ConfigError
from accelsim.spec.geometry import LayerGeometry
from accelsim.spec.sparsity import check_sparsity, layer_densities


def conv(name: str, cin: int, cout: int, k: int = 3, groups: int = 1) -> LayerGeometry:
    return LayerGeometry(name=name, kind="conv", in_channels=cin, out_channels=cout,
                         kernel_h=k, kernel_w=k, padding_h=k // 2, padding_w=k // 2,
                         groups=groups, input_h=5, input_w=5, output_h=5, output_w=5)


def fc(name: str, cin: int, cout: int) -> LayerGeometry:
    return LayerGeometry(name=name, kind="linear", in_channels=cin, out_channels=cout)


# Three layers whose ERK scores are easy by hand.  ERK density = eps * sum(dims) / prod(dims)
# and prod(dims) is the weight count, so a layer's non-zeros are eps * sum(dims).
#   A  conv 4->8 3x3     dims (8, 4, 3, 3)  sum 18  count  288
#   B  conv 8->16 3x3    dims (16, 8, 3, 3) sum 30  count 1152
#   C  linear 16->10     dims (10, 16)      sum 26  count  160      total 1600
A = conv("A", 4, 8)
B = conv("B", 8, 16)
C = fc("C", 16, 10)
LAYERS = (A, B, C)
TOTAL = 1600


def kept(layers, densities) -> float:
    return sum(g.weight_count * d for g, d in zip(layers, densities, strict=True))


def test_hand_layers_are_what_the_comments_say():
    assert [g.weight_count for g in LAYERS] == [288, 1152, 160]


# ---- uniform ----------------------------------------------------------------------------
def test_uniform_first_layer_dense():
    assert layer_densities(LAYERS, 0.9) == pytest.approx((1.0, 0.1, 0.1))
    assert layer_densities(LAYERS, 0.9, distribution="uniform",
                           first_layer_dense=True) == pytest.approx((1.0, 0.1, 0.1))


def test_uniform_every_layer_sparse():
    assert layer_densities(LAYERS, 0.9, first_layer_dense=False) == pytest.approx((0.1,) * 3)
    assert layer_densities(LAYERS, 0.0, first_layer_dense=False) == (1.0, 1.0, 1.0)


def test_uniform_returns_one_density_per_layer_as_tuple():
    d = layer_densities(LAYERS, 0.5)
    assert isinstance(d, tuple) and len(d) == len(LAYERS)


# ---- overrides --------------------------------------------------------------------------
def test_overrides_by_name_are_respected():
    d = layer_densities(LAYERS, 0.9, overrides={"B": 0.5})
    assert d == pytest.approx((1.0, 0.5, 0.1))
    # an override of the first layer beats first_layer_dense
    d = layer_densities(LAYERS, 0.9, overrides={"A": 0.75})
    assert d == pytest.approx((0.25, 0.1, 0.1))


def test_overrides_do_not_mutate_the_callers_dict():
    overrides = {"B": 0.5}
    layer_densities(LAYERS, 0.5, overrides=overrides, distribution="erk",
                    first_layer_dense=False)
    assert overrides == {"B": 0.5}


def test_unknown_override_names_are_rejected():
    with pytest.raises(ConfigError, match="nope"):
        layer_densities(LAYERS, 0.9, overrides={"nope": 0.5})
    with pytest.raises(ConfigError):
        layer_densities(LAYERS, 0.9, overrides={"B": 0.5, "b": 0.5})


@pytest.mark.parametrize("bad", [1.0, -0.1, "abc", float("nan")])
def test_invalid_override_value_is_rejected(bad):
    with pytest.raises(ConfigError):
        layer_densities(LAYERS, 0.9, overrides={"B": bad})


def test_bad_distribution_and_empty_network():
    with pytest.raises(ConfigError, match="distribution"):
        layer_densities(LAYERS, 0.9, distribution="random")
    with pytest.raises(ConfigError):
        layer_densities((), 0.9)


@pytest.mark.parametrize("bad", [1.0, -0.1, "abc", float("nan")])
def test_invalid_network_sparsity_is_rejected(bad):
    with pytest.raises(ConfigError):
        layer_densities(LAYERS, bad)


# ---- ERK --------------------------------------------------------------------------------
def test_erk_no_layer_saturates():
    # s = 0.9: budget 160 non-zeros; eps = 160 / (18 + 30 + 26) = 160 / 74
    eps = 160 / 74
    want = (eps * 18 / 288, eps * 30 / 1152, eps * 26 / 160)
    assert max(want) < 1.0
    d = layer_densities(LAYERS, 0.9, distribution="erk", first_layer_dense=False)
    assert d == pytest.approx(want, rel=1e-12)
    assert kept(LAYERS, d) == pytest.approx(0.1 * TOTAL, rel=1e-12)
    # the small fc is densest, the big 3x3 conv sparsest
    assert d[2] > d[0] > d[1]


def test_erk_one_layer_saturates():
    # s = 0.5: budget 800; eps = 800/74 makes C 800/74*26/160 = 1.76 > 1, so C is dense,
    # and eps = (800 - 160) / (18 + 30) over A and B (A: 0.833, B: 0.347; none above 1).
    eps = 640 / 48
    want = (eps * 18 / 288, eps * 30 / 1152, 1.0)
    d = layer_densities(LAYERS, 0.5, distribution="erk", first_layer_dense=False)
    assert d == pytest.approx(want, rel=1e-12)
    assert d[2] == 1.0
    assert kept(LAYERS, d) == pytest.approx(800, rel=1e-12)


def test_erk_saturation_cascades():
    # s = 0.3: budget 1120.  Round 1: eps = 1120/74 -> C dense.  Round 2: eps = 960/48 = 20
    # -> A at 20*18/288 = 1.25 -> dense.  Round 3: eps = (960 - 288)/30 = 22.4 -> B 0.5833.
    d = layer_densities(LAYERS, 0.3, distribution="erk", first_layer_dense=False)
    assert d == pytest.approx((1.0, 672 / 1152, 1.0), rel=1e-12)
    assert kept(LAYERS, d) == pytest.approx(1120, rel=1e-12)


def test_erk_first_layer_dense_is_taken_out_of_the_budget():
    # s = 0.5, A fixed dense (288): budget 800 - 288 = 512 over B, C; eps = 512/56 makes
    # C 1.49 -> dense; then eps = 352/30 and B = 352/1152.
    d = layer_densities(LAYERS, 0.5, distribution="erk", first_layer_dense=True)
    assert d == pytest.approx((1.0, 352 / 1152, 1.0), rel=1e-12)
    assert kept(LAYERS, d) == pytest.approx(800, rel=1e-12)


def test_erk_override_is_held_and_excluded_from_the_solve():
    # s = 0.6: budget 640.  B held at density 0.25 (288 non-zeros) leaves 352 for A and C:
    # eps = 352 / (18 + 26) = 8 -> C at 8 * 26/160 = 1.3 -> dense; then eps = 192/18 over A
    # alone -> A = 192/288.
    d = layer_densities(LAYERS, 0.6, distribution="erk", first_layer_dense=False,
                        overrides={"B": 0.75})
    assert d == pytest.approx((192 / 288, 0.25, 1.0), rel=1e-12)
    assert kept(LAYERS, d) == pytest.approx(640, rel=1e-12)


def test_erk_groups_use_in_channels_per_group():
    # depthwise 8->8, groups 8: dims (8, 1, 3, 3), sum 15, count 72
    dw = conv("dw", 8, 8, groups=8)
    layers = (B, dw)
    d = layer_densities(layers, 0.9, distribution="erk", first_layer_dense=False)
    eps = 0.1 * (1152 + 72) / (30 + 15)
    assert d == pytest.approx((eps * 30 / 1152, eps * 15 / 72), rel=1e-12)


def test_erk_dense_network_is_all_ones():
    d = layer_densities(LAYERS, 0.0, distribution="erk", first_layer_dense=False)
    assert d == pytest.approx((1.0, 1.0, 1.0))
    assert all(x <= 1.0 for x in d)


def test_erk_infeasible_budget_is_an_error():
    # A (288 of 1600 weights) fixed dense, but s = 0.9 allows only 160 non-zeros in total.
    with pytest.raises(ConfigError, match="cannot reach"):
        layer_densities(LAYERS, 0.9, distribution="erk", first_layer_dense=True)


# ---- check_sparsity ---------------------------------------------------------------------
@pytest.mark.parametrize("bad", [1.0, 1, -0.1, 1.5, "abc", None, float("nan"), float("inf"),
                                 [0.5]])
def test_check_sparsity_rejects(bad):
    with pytest.raises(ConfigError):
        check_sparsity(bad)


@pytest.mark.parametrize("good", [0, 0.0, 0.5, 0.999, "0.25"])
def test_check_sparsity_accepts(good):
    v = check_sparsity(good)
    assert isinstance(v, float) and v == float(good) and 0.0 <= v < 1.0


def test_check_sparsity_names_the_value_in_the_message():
    with pytest.raises(ConfigError, match="weight sparsity"):
        check_sparsity(1.0, "weight sparsity")
    with pytest.raises(ConfigError, match="abc"):
        check_sparsity("abc")
    assert math.isclose(check_sparsity(0.9), 0.9)
