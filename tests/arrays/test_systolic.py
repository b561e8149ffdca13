"""The systolic model (accelsim.arrays.systolic): SCALE-Sim v3's compute cycles, its
output-size rule for strided layers, and the golden values of the real SCALE-Sim."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from accelsim import simulate_layer
from accelsim.arrays.systolic import _fold_cycles, scalesim_output_size, systolic_problem_cycles
from accelsim.errors import HardwareError
from accelsim.spec.hardware import builtin_hardware
from accelsim.spec.kind_sections import SystolicSpec

SYSTOLIC = builtin_hardware("systolic-os-32x32")
PASSES = ("forward", "backward_input", "backward_weight")
GOLDEN = Path(__file__).resolve().parents[1] / "data" / "scalesim_golden.jsonl"


def rand(shape, density, rng):
    a = np.abs(rng.standard_normal(shape)).astype(np.float32) + 0.1
    return np.where(rng.random(shape) < density, a, 0).astype(np.float32)


def systolic(h, w, dataflow, compat="scalesim", **more):
    return SYSTOLIC.replace(**{"systolic.height": h, "systolic.width": w,
                               "systolic.dataflow": dataflow, "systolic.compat": compat,
                               **{f"systolic.{k}": v for k, v in more.items()}})


def scalesim_formula(dataflow, out_pixels, out_channels, reduction, h, w):
    """SCALE-Sim v3 compute cycles of one layer (derived from its compute/systolic_compute_*.py
    demand matrices; checked against its runs in test_scalesim_golden)."""
    if dataflow == "os":
        return math.ceil(out_pixels / h) * math.ceil(out_channels / w) \
            * (reduction + h + w - 2) - 1
    if dataflow == "ws":
        return math.ceil(reduction / h) * math.ceil(out_channels / w) \
            * (out_pixels + 2 * h + w - 2) - 1
    return math.ceil(reduction / h) * math.ceil(out_pixels / w) \
        * (out_channels + 2 * h + w - 2) - 1


def scalesim_out(size, k, s):
    """SCALE-Sim's output rows: ceil((H - R) / stride) + 1."""
    return math.ceil((size - k) / s) + 1


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_systolic_formula_random_gemms(dataflow):
    rng = np.random.default_rng(10)
    for _ in range(300):
        n_f, n_w, k = (int(v) for v in rng.integers(1, 300, 3))
        h, w = (int(v) for v in rng.integers(1, 70, 2))
        spec = SystolicSpec(h, w, dataflow, "scalesim")
        want = scalesim_formula(dataflow, n_w, n_f, k, h, w)
        assert systolic_problem_cycles(n_f, n_w, k, spec) == want
        assert int(_fold_cycles(n_f, n_w, k, spec).sum()) == want
        piped = SystolicSpec(h, w, dataflow, "pipelined")
        got = systolic_problem_cycles(n_f, n_w, k, piped)
        assert int(_fold_cycles(n_f, n_w, k, piped).sum()) == got
        if k >= h and n_w >= h and n_f >= h:  # streams at least as long as the array is high
            assert got <= want
    assert systolic_problem_cycles(0, 5, 5, SystolicSpec()) == 0


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_systolic_formula_random_conv_layers(dataflow):
    """Whole layers through simulate_layer: unpadded inputs, one sample -> exactly SCALE-Sim's
    formula on (out_pixels, out_channels, kh*kw*in) with its output size (ceil rule) under
    compat = "scalesim", the layer's own (floor) with output_size = "exact"."""
    rng = np.random.default_rng({"os": 1, "ws": 2, "is": 3}[dataflow])
    for _ in range(12):
        out, inp = int(rng.integers(1, 70)), int(rng.integers(1, 20))
        k, stride = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        size = int(rng.integers(k, 14))
        h, w = int(rng.integers(2, 40)), int(rng.integers(2, 40))
        weights = rand((out, inp, k, k), rng.uniform(0.1, 1), rng)
        acts = rand((1, inp, size, size), rng.uniform(0.1, 1), rng)
        for rule, osz in (("auto", scalesim_out(size, k, stride)),
                          ("exact", (size - k) // stride + 1)):
            f = simulate_layer(weights, acts, stride=stride, padding=0,
                               hardware=systolic(h, w, dataflow, output_size=rule)
                               ).passes["forward"]
            want = scalesim_formula(dataflow, osz * osz, out, k * k * inp, h, w)
            assert f.compute_cycles == f.base_cycles == want, (rule, size, k, stride, h, w)
            assert f.speedup == 1.0 and f.stall_cycles == 0
            assert f.ideal_cycles == math.ceil(f.effectual_macs / (h * w))


def test_scalesim_output_size_rule():
    """ResNet-50 conv1 (224, 7x7, stride 2): SCALE-Sim 110 rows, the layer 109 (unpadded);
    with padding 3 the padded input 230 gives 113 vs 112.  Exact divisions agree."""
    assert scalesim_output_size(224, 7, 2) == 110 and (224 - 7) // 2 + 1 == 109
    assert scalesim_output_size(224, 7, 2, padding=3) == 113
    assert scalesim_output_size(56, 3, 1, padding=1) == 56
    assert scalesim_output_size(9, 3, 2, dilation=2) == 3  # (9 - 5) / 2 exact
    assert scalesim_output_size(10, 3, 2, dilation=2) == 4
    assert SystolicSpec().scalesim_output_size
    assert not SystolicSpec(compat="pipelined").scalesim_output_size
    assert SystolicSpec(compat="pipelined", output_size="scalesim").scalesim_output_size
    assert not SystolicSpec(output_size="exact").scalesim_output_size
    with pytest.raises(HardwareError, match="output_size"):
        SystolicSpec(output_size="ceil")


def test_output_size_only_forward_conv():
    """The rule changes the forward pass of a strided conv only; backward passes and linear
    layers keep their own sizes."""
    rng = np.random.default_rng(7)
    w, a = rand((5, 3, 3, 3), 0.6, rng), rand((2, 3, 10, 10), 0.6, rng)
    g = rand((2, 5, 4, 4), 0.6, rng)
    new = simulate_layer(w, a, output_grad=g, stride=2, padding=0, hardware=SYSTOLIC).passes
    old = simulate_layer(w, a, output_grad=g, stride=2, padding=0,
                         hardware=systolic(32, 32, "os", output_size="exact")).passes
    assert new["forward"].compute_cycles == 2 * scalesim_formula("os", 25, 5, 27, 32, 32)
    assert old["forward"].compute_cycles == 2 * scalesim_formula("os", 16, 5, 27, 32, 32)
    for p in ("backward_input", "backward_weight"):
        assert new[p].compute_cycles == old[p].compute_cycles


def _golden() -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for line in GOLDEN.read_text().splitlines():
        r = json.loads(line)
        h, w = r["array"]
        groups[f"{r['set']}-{h}x{w}-{r['dataflow']}"].append(r)
    return dict(groups)


GOLDEN_GROUPS = _golden()


@pytest.mark.parametrize("config", sorted(GOLDEN_GROUPS))
def test_scalesim_golden(config):
    """Every committed SCALE-Sim v3 run (tests/data/scalesim_golden.py): the layer (unpadded,
    padding 0) through simulate_layer gives its compute cycles exactly."""
    rng = np.random.default_rng(4)
    for r in GOLDEN_GROUPS[config]:
        h, w = r["array"]
        _, ih, iw, kh, kw, c, m, s = r["layer"]
        want = r["compute_cycles"]
        oh, ow = scalesim_out(ih, kh, s), scalesim_out(iw, kw, s)
        assert want == scalesim_formula(r["dataflow"], oh * ow, m, kh * kw * c, h, w), r
        weights = rand((m, c, kh, kw), 0.5, rng)
        acts = np.ones((1, c, ih, iw), np.float32)
        f = simulate_layer(weights, acts, stride=s, padding=0,
                           hardware=systolic(h, w, r["dataflow"])).passes["forward"]
        assert f.compute_cycles == want, r


def test_golden_covers_strided_and_resnet50():
    """The committed golden values include inexact strided layers on every dataflow and a
    non-square array."""
    strided = [r for g in GOLDEN_GROUPS.values() for r in g
               if (r["layer"][1] - r["layer"][3]) % r["layer"][7]]
    assert {r["dataflow"] for r in strided} == {"os", "ws", "is"}
    assert any(r["array"][0] != r["array"][1] for r in strided)
    assert any(k.startswith("resnet50-32x32-os") for k in GOLDEN_GROUPS)


def test_golden_covers_every_resnet50_layer():
    """Every unique ResNet-50 (ImageNet) layer shape -- so all 54 layers -- on 32x32 with
    os, ws and is, and on the non-square 16x64 with os (tests/data/scalesim_golden.py)."""
    table = json.loads((Path(__file__).resolve().parents[2] / "accelsim" / "networks"
                        / "layer_tables" / "resnet50_imagenet.json").read_text())
    shapes = {(lay["input_h"], lay["input_w"], lay["kernel_h"], lay["kernel_w"],
               lay["in_channels"], lay["out_channels"], lay["stride_h"])
              for lay in table["layers"]}
    assert len(table["layers"]) == 54 and len(shapes) == 24
    for config in ("32x32-os", "32x32-ws", "32x32-is", "16x64-os"):
        got = {tuple(r["layer"][1:]) for r in GOLDEN_GROUPS.get(f"resnet50-{config}", [])}
        assert got == shapes, config


def test_systolic_all_passes_sum_problems():
    rng = np.random.default_rng(5)
    w = rand((24, 8, 3, 3), 0.4, rng)
    a = rand((2, 8, 9, 9), 0.5, rng)
    g = rand((2, 24, 5, 5), 1.0, rng)
    r = simulate_layer(w, a, stride=2, padding=1, output_grad=g, hardware=SYSTOLIC)
    assert set(r.passes) == set(PASSES)
    # forward: one GEMM per sample (24 filters x 25 pixels x 72)
    assert r.passes["forward"].compute_cycles == 2 * scalesim_formula("os", 25, 24, 72, 32, 32)
    # backward-weight: one GEMM per sample and tap (24 grad channels x 8 channels x 25 pixels)
    assert r.passes["backward_weight"].compute_cycles == \
        2 * 9 * scalesim_formula("os", 8, 24, 25, 32, 32)
    for b in r.passes.values():
        assert b.base_cycles == b.compute_cycles and b.energy_efficiency == 1.0
        assert 0 < b.ideal_cycles <= b.compute_cycles and b.energy_pj > 0


def test_systolic_dram_stalls():
    rng = np.random.default_rng(6)
    w = rand((64, 32, 3, 3), 1.0, rng)
    a = rand((1, 32, 16, 16), 1.0, rng)
    slow = SYSTOLIC.replace(**{"memory.kind": "dram", "memory.bandwidth_gb_per_s": 0.5})
    f = simulate_layer(w, a, padding=1, hardware=slow).passes["forward"]
    fast = simulate_layer(w, a, padding=1, hardware=SYSTOLIC).passes["forward"]
    assert f.compute_cycles == fast.compute_cycles and f.stall_cycles > 0
    assert fast.stall_cycles == 0 and f.energy_pj >= fast.energy_pj > 0
