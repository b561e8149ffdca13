"""Cycle model invariants on the Bit-Tactical-style array."""

from __future__ import annotations

import math

import numpy as np
import pytest

from accelsim import simulate_layer
from accelsim.spec.hardware import load_hardware

TCL = load_hardware(None)
DENSE = load_hardware("dadiannao")


def hw(**changes):
    return TCL.replace(**changes)


def rand(shape, density, rng):
    a = np.abs(rng.standard_normal(shape)).astype(np.float32) + 0.1
    return np.where(rng.random(shape) < density, a, 0).astype(np.float32)


@pytest.mark.parametrize("out, inp, k, size, stride, columns", [
    (64, 64, 3, 8, 1, 1), (300, 3, 7, 16, 2, 1), (32, 20, 1, 7, 2, 2), (10, 128, 3, 5, 1, 3)])
def test_dense_cycles_formula(out, inp, k, size, stride, columns):
    rng = np.random.default_rng(0)
    w = rand((out, inp, k, k), 1.0, rng)
    a = rand((1, inp, size, size), 0.5, rng)
    machine = DENSE.replace(**{"array.columns": columns})
    r = simulate_layer(w, a, stride=stride, padding=k // 2, hardware=machine)
    f = r.passes["forward"]
    osz = (size + 2 * (k // 2) - k) // stride + 1
    if inp == 3 and stride > 1:  # folded to stride 1 by default (fold_first_layer, DNNsim)
        osz = math.ceil((size + 2 * (k // 2)) / stride) - math.ceil(k / stride) + 1
        inp, k = 3 * stride * stride, math.ceil(k / stride)
    want = math.ceil(osz * osz / columns) * k * k * math.ceil(inp / 16) * math.ceil(out / 256)
    assert f.base_cycles == f.compute_cycles == want
    assert f.speedup == 1.0


def test_dense_weights_full_lanes_give_exactly_one():
    rng = np.random.default_rng(1)
    w = rand((256, 32, 3, 3), 1.0, rng)
    a = rand((1, 32, 6, 6), 0.3, rng)
    r = simulate_layer(w, a, stride=1, padding=1, hardware=hw(**{"frontend.schedule": "weights"}))
    assert r.passes["forward"].speedup == 1.0


def test_three_channel_first_layer_speeds_up_with_dense_weights():
    rng = np.random.default_rng(2)
    w = rand((64, 3, 3, 3), 1.0, rng)
    a = rand((1, 3, 8, 8), 1.0, rng)
    r = simulate_layer(w, a, stride=1, padding=1, hardware=hw(**{"frontend.schedule": "weights"}))
    assert r.passes["forward"].speedup > 1.5  # lookaside fills the 13 idle lanes


@pytest.mark.parametrize("h", [1, 2, 4])
@pytest.mark.parametrize("density", [0.05, 0.3, 0.6])
def test_weight_skipping_bound(h, density):
    rng = np.random.default_rng(int(h * 100 + density * 10))
    w = rand((256, 64, 3, 3), density, rng)
    a = rand((1, 64, 4, 4), 1.0, rng)
    machine = hw(**{"frontend.schedule": "weights", "frontend.shape": "L",
                    "frontend.lookahead": h, "frontend.lookaside": 2})
    f = simulate_layer(w, a, stride=1, padding=1, hardware=machine).passes["forward"]
    s = 1 - np.count_nonzero(w) / w.size
    assert f.speedup <= min(h + 1, 1 / (1 - s)) + 1e-12
    assert f.ideal_cycles <= f.compute_cycles <= f.base_cycles


@pytest.mark.parametrize("schedule", ["sparser", "weights", "activations"])
@pytest.mark.parametrize("priority", ["least-flexible", "most-flexible", "non-overlapping"])
def test_ideal_compute_base_order_all_passes(schedule, priority):
    rng = np.random.default_rng(3)
    w = rand((40, 24, 3, 3), 0.2, rng)
    a = rand((2, 24, 7, 7), 0.4, rng)
    g = rng.standard_normal((2, 40, 4, 4)).astype(np.float32)
    machine = hw(**{"frontend.schedule": schedule, "frontend.priority": priority,
                    "array.tiles": 2, "array.rows": 4, "array.columns": 2})
    r = simulate_layer(w, a, stride=2, padding=1, output_grad=g, hardware=machine)
    assert set(r.passes) == {"forward", "backward_input", "backward_weight"}
    for b in r.passes.values():
        assert 0 < b.ideal_cycles <= b.compute_cycles <= b.base_cycles
        assert 0 < b.pe_utilisation <= 1
        assert 0 <= b.exploited_sparsity <= 1


def test_all_zero_weights_take_minimal_cycles():
    w = np.zeros((16, 32, 3, 3), np.float32)
    a = np.ones((1, 32, 5, 5), np.float32)
    machine = hw(**{"frontend.schedule": "weights"})
    f = simulate_layer(w, a, stride=1, padding=1, hardware=machine).passes["forward"]
    lines = 3 * 3 * 2
    assert f.compute_cycles == 25 * math.ceil(lines / 3)  # h = 2: one step per 3 lines


def test_least_flexible_not_slower_than_most_flexible_in_aggregate():
    rng = np.random.default_rng(4)
    totals = {"least-flexible": 0, "most-flexible": 0}
    for _ in range(6):
        w = rand((64, 48, 3, 3), rng.uniform(0.05, 0.5), rng)
        a = np.ones((1, 48, 2, 2), np.float32)
        for p in totals:
            machine = hw(**{"frontend.schedule": "weights", "frontend.priority": p})
            totals[p] += simulate_layer(w, a, stride=1, padding=1,
                                        hardware=machine).passes["forward"].compute_cycles
    assert totals["least-flexible"] <= totals["most-flexible"]


def test_linear_is_a_1x1_conv():
    rng = np.random.default_rng(5)
    w = rand((20, 40), 0.3, rng)
    a = rand((3, 40), 0.5, rng)
    g = rng.standard_normal((3, 20)).astype(np.float32)
    lin = simulate_layer(w, a, output_grad=g).to_dict()
    conv = simulate_layer(w[:, :, None, None], a[:, :, None, None],
                          output_grad=g[:, :, None, None]).to_dict()
    for p in ("forward", "backward_input"):
        assert lin[p]["compute_cycles"] <= conv[p]["compute_cycles"]  # linear batches samples
        assert lin[p]["effectual_macs"] == conv[p]["effectual_macs"]
    assert lin["backward_weight"] == conv["backward_weight"]


def test_forward_only_without_grad_and_keys():
    rng = np.random.default_rng(6)
    r = simulate_layer(rand((8, 4, 3, 3), 0.5, rng), rand((1, 4, 5, 5), 0.5, rng), padding=1)
    d = r.to_dict()
    assert list(d) == ["forward"]
    assert {"base_cycles", "compute_cycles", "ideal_cycles", "stall_cycles", "speedup",
            "energy_pj"} <= set(d["forward"])
