"""FLOP accounting: exact mask counts against brute force, and SWAT's published figures."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from accelsim.errors import ConfigError
from accelsim.flops import effectual_macs, spec_flops, trace_flops
from accelsim.networks.catalog import layer_table
from accelsim.spec.geometry import LayerGeometry
from accelsim.trace import open_trace


def brute_force(g: LayerGeometry, pass_name: str, first: np.ndarray, second: np.ndarray) -> int:
    """Enumerate every product of the pass and count those with both operands non-zero."""
    if g.kind == "linear":
        w_or_a, other = first != 0, second != 0
        n_batch = other.shape[0] if pass_name != "backward_weight" else first.shape[0]
        count = 0
        for n, m, c in itertools.product(range(n_batch), range(g.out_channels), range(g.in_channels)):
            if pass_name == "forward":
                count += w_or_a[m, c] and other[n, c]
            elif pass_name == "backward_input":
                count += w_or_a[m, c] and other[n, m]
            else:
                count += w_or_a[n, c] and other[n, m]
        return count
    cg, mg = g.in_channels // g.groups, g.out_channels // g.groups
    batch = first.shape[0] if pass_name == "backward_weight" else second.shape[0]
    count = 0
    for n, m, oy, ox, cl, ky, kx in itertools.product(
            range(batch), range(g.out_channels), range(g.output_h), range(g.output_w),
            range(cg), range(g.kernel_h), range(g.kernel_w)):
        c = (m // mg) * cg + cl
        iy = oy * g.stride_h + ky * g.dilation_h - g.padding_h
        ix = ox * g.stride_w + kx * g.dilation_w - g.padding_w
        inside = 0 <= iy < g.input_h and 0 <= ix < g.input_w
        if pass_name == "forward":
            count += bool(inside and first[m, cl, ky, kx] and second[n, c, iy, ix])
        elif pass_name == "backward_input":
            count += bool(inside and first[m, cl, ky, kx] and second[n, m, oy, ox])
        else:
            count += bool(inside and first[n, c, iy, ix] and second[n, m, oy, ox])
    return count


def dilated() -> LayerGeometry:
    return LayerGeometry(name="dil", kind="conv", in_channels=4, out_channels=4, kernel_h=3,
                         kernel_w=2, stride_h=2, stride_w=1, padding_h=2, padding_w=1,
                         dilation_h=2, dilation_w=1, groups=2, input_h=6, input_w=5,
                         output_h=3, output_w=6)


@pytest.mark.parametrize("pass_name", ["forward", "backward_input", "backward_weight"])
def test_effectual_macs_match_brute_force(tiny_layers, operands_for, pass_name):
    rng = np.random.default_rng(1)

    for g in (*tiny_layers, dilated()):
        ops = operands_for(g, 2, rng, density=0.4)[pass_name]
        first, second = ops.values()
        assert effectual_macs(g, pass_name, first, second) == brute_force(g, pass_name, first, second), g.name


def test_dense_operands_count_every_valid_product(conv_strided):
    ones = {r: np.ones(s) for r, s in (("w", conv_strided.weight_shape()),
                                       ("a", conv_strided.activation_shape(1)),
                                       ("g", conv_strided.grad_shape(1)))}
    fw = effectual_macs(conv_strided, "forward", ones["w"], ones["a"])
    bi = effectual_macs(conv_strided, "backward_input", ones["w"], ones["g"])
    bw = effectual_macs(conv_strided, "backward_weight", ones["a"], ones["g"])
    # padding products are not effectual: all three passes agree and are below the dense count
    assert fw == bi == bw < conv_strided.macs_per_sample
    assert fw == brute_force(conv_strided, "forward", ones["w"], ones["a"])


def test_trace_flops_uses_masks(make_trace):
    path, ops = make_trace(encoding="fixed16")
    with open_trace(path) as trace:
        report = trace_flops(trace)
    assert report.batch == 2
    for lf in report.layers:
        for pass_name, f in lf.passes.items():
            first, second = ops[lf.geometry.name][pass_name].values()
            assert f.effectual_macs == effectual_macs(lf.geometry, pass_name, first, second)
            assert f.dense_macs == 2 * lf.geometry.macs_per_sample
    d = report.to_dict()
    assert 0 < d["inference_flops_reduction"] < 1 and 0 < d["training_flops_reduction"] < 1


# ---- SWAT's FLOP columns (Tables 2 and 3) ---------------------------------------------------------
@pytest.mark.parametrize("model, dataset, sparsity, inference", [
    ("resnet50", "imagenet", 0.8, 0.777),
    ("resnet50", "imagenet", 0.9, 0.874),
    ("vgg16", "cifar10", 0.9, 0.895),
])
def test_swat_u_inference_reduction(model, dataset, sparsity, inference):
    report = spec_flops(layer_table(model, dataset), "swat-u", sparsity)
    assert report.inference_flops_reduction == pytest.approx(inference, abs=0.0005)


def test_swat_u_training_reduction_resnet50():
    # our accounting: three equal passes, first layer dense and without backward-input
    layers = layer_table("resnet50", "imagenet")
    r = spec_flops(layers, "swat-u", 0.8)
    d1 = layers[0].macs_per_sample
    total = sum(g.macs_per_sample for g in layers)
    want = 0.8 * 3 * (total - d1) / (3 * total - d1)
    assert r.training_flops_reduction == pytest.approx(want, rel=1e-12)
    assert 0.78 < r.training_flops_reduction < 0.79


def test_dense_method_reduces_nothing():
    r = spec_flops(layer_table("resnet20", "cifar10"), "dense", 0.9)
    assert r.inference_flops_reduction == 0 and r.training_flops_reduction == 0


def test_activation_sparsity_adds_to_forward():
    layers = layer_table("resnet20", "cifar10")
    plain = spec_flops(layers, "acdc", 0.5)
    natural = spec_flops(layers, "acdc", 0.5, activation_sparsity=0.5)
    assert natural.inference_flops_reduction > plain.inference_flops_reduction
    assert plain.inference_flops_reduction == pytest.approx(0.5)


@pytest.mark.parametrize("method, sparsity, words", [
    ("swat-m", 0.9, "momentum"), ("nope", 0.9, "unknown method"), ("swat-u", 1.0, "sparsity"),
    ("swat-u", float("nan"), "sparsity"),
])
def test_bad_spec(method, sparsity, words):
    with pytest.raises(ConfigError, match=words):
        spec_flops(layer_table("resnet20", "cifar10"), method, sparsity)
