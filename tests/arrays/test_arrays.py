"""The other array models: SCNN and ideal (accelsim.arrays); systolic: test_systolic.py."""

from __future__ import annotations

import math

import numpy as np
import pytest

from accelsim import simulate_layer
from accelsim.errors import HardwareError
from accelsim.spec.array_sections import ArraySpec
from accelsim.spec.hardware import (
    Hardware,
    builtin_hardware,
    dense_baseline,
    ideal_bound,
    load_hardware,
)
from accelsim.spec.kind_sections import ScnnSpec, SystolicSpec

SYSTOLIC = builtin_hardware("systolic-os-32x32")
SCNN = builtin_hardware("scnn")
IDEAL = builtin_hardware("ideal")
PASSES = ("forward", "backward_input", "backward_weight")


def systolic(h, w, dataflow, compat="scalesim"):
    return SYSTOLIC.replace(**{"systolic.height": h, "systolic.width": w,
                               "systolic.dataflow": dataflow, "systolic.compat": compat})


def rand(shape, density, rng):
    a = np.abs(rng.standard_normal(shape)).astype(np.float32) + 0.1
    return np.where(rng.random(shape) < density, a, 0).astype(np.float32)


# ---- ideal --------------------------------------------------------------------------------
def _layer(rng, w_density=0.3, a_density=0.5, stride=1, batch=2):
    w = rand((40, 24, 3, 3), w_density, rng)
    a = rand((batch, 24, 10, 10), a_density, rng)
    osz = (10 + 2 - 3) // stride + 1
    g = rand((batch, 40, osz, osz), 0.7, rng)
    return w, a, g


DESIGNS = {
    "bit-tactical": builtin_hardware("bit-tactical"),
    "dadiannao": builtin_hardware("dadiannao"),
    "tclp": builtin_hardware("bit-tactical-tclp").replace(**{"array.columns": 2}),
    "systolic-os": SYSTOLIC,
    "systolic-ws": systolic(16, 8, "ws"),
    "systolic-is-pipelined": systolic(8, 16, "is", "pipelined"),
    "scnn": SCNN,
    "scnn-small": SCNN.replace(**{"scnn.pe_rows": 2, "scnn.pe_columns": 3,
                                  "scnn.accumulator_banks": 3}),
}


@pytest.mark.parametrize("stride", [1, 2])
def test_ideal_below_every_design(stride):
    rng = np.random.default_rng(7 + stride)
    w, a, g = _layer(rng, stride=stride)
    for name, hw in DESIGNS.items():
        bound = ideal_bound(hw)
        assert bound.multipliers == hw.multipliers and bound.array.kind == "ideal"
        design = simulate_layer(w, a, stride=stride, padding=1, output_grad=g, hardware=hw)
        ideal = simulate_layer(w, a, stride=stride, padding=1, output_grad=g, hardware=bound)
        for p in PASSES:
            d, i = design.passes[p], ideal.passes[p]
            assert i.effectual_macs == d.effectual_macs, (name, p)
            assert i.compute_cycles == i.ideal_cycles <= i.base_cycles
            assert i.compute_cycles <= d.compute_cycles, (name, p)
            assert i.pe_utilisation <= 1.0


def test_ideal_cycles_formula():
    rng = np.random.default_rng(9)
    w = rand((20, 40), 0.3, rng)
    a = rand((3, 40), 0.5, rng)
    f = simulate_layer(w, a, hardware=IDEAL.replace(**{"ideal.multipliers": 7})).passes["forward"]
    eff = int(((w != 0).astype(np.int64) @ (a != 0).T.astype(np.int64)).sum())
    assert f.effectual_macs == eff
    assert f.compute_cycles == f.ideal_cycles == math.ceil(eff / 7)
    assert f.base_cycles == math.ceil(20 * 40 * 3 / 7)


# ---- SCNN ---------------------------------------------------------------------------------
def test_scnn_one_multiplier_counts_cartesian_products():
    """F = I = 1, one PE, one group: every product is its own cycle (no conflicts possible),
    so compute = sum over input channels of nnz(weights of c) x nnz(activations of c)."""
    rng = np.random.default_rng(11)
    w = rand((6, 5, 3, 3), 0.4, rng)
    a = rand((1, 5, 7, 7), 0.5, rng)
    hw = SCNN.replace(**{"scnn.pe_rows": 1, "scnn.pe_columns": 1, "scnn.weights_per_cycle": 1,
                         "scnn.activations_per_cycle": 1, "scnn.output_channel_group": 6})
    f = simulate_layer(w, a, padding=1, hardware=hw).passes["forward"]
    want = sum(int(np.count_nonzero(w[:, c])) * int(np.count_nonzero(a[0, c])) for c in range(5))
    assert f.compute_cycles == want
    assert f.base_cycles == 6 * 5 * 9 * 49


def test_scnn_speedup_grows_with_sparsity():
    rng = np.random.default_rng(12)
    speedups = []
    for density in (1.0, 0.6, 0.3, 0.1):
        w = rand((32, 16, 3, 3), density, rng)
        a = rand((1, 16, 16, 16), density, rng)
        g = rand((1, 32, 16, 16), density, rng)
        r = simulate_layer(w, a, padding=1, output_grad=g, hardware=SCNN)
        speedups.append([r.passes[p].speedup for p in PASSES])
    for p in range(3):
        column = [s[p] for s in speedups]
        assert column == sorted(column), (PASSES[p], column)
        assert column[-1] > 2 * column[0]


@pytest.mark.parametrize("density", [0.8, 0.3])
def test_scnn_bank_conflicts_stall_but_never_beat_ideal(density):
    rng = np.random.default_rng(13)
    w, a, g = _layer(rng, density, density, batch=1)
    runs = {}
    for banks in (1, 4, 32, 1024):
        hw = SCNN.replace(**{"scnn.accumulator_banks": banks})
        runs[banks] = simulate_layer(w, a, padding=1, output_grad=g, hardware=hw)
    ideal = simulate_layer(w, a, padding=1, output_grad=g, hardware=ideal_bound(SCNN))
    for p in PASSES:
        cycles = [runs[b].passes[p].compute_cycles for b in (1, 4, 32, 1024)]
        assert cycles[0] >= max(cycles[1:]), (p, cycles)  # one bank: every product conflicts
        assert min(cycles) >= ideal.passes[p].compute_cycles
        for r in runs.values():
            assert r.passes[p].ideal_cycles <= r.passes[p].compute_cycles


@pytest.mark.parametrize("stride, padding", [(1, 1), (2, 1), (1, 0)])
def test_scnn_dense_data_no_better_than_dense(stride, padding):
    rng = np.random.default_rng(14)
    w = rand((24, 12, 3, 3), 1.0, rng)
    a = rand((2, 12, 12, 12), 1.0, rng)
    osz = (12 + 2 * padding - 3) // stride + 1
    g = rand((2, 24, osz, osz), 1.0, rng)
    r = simulate_layer(w, a, stride=stride, padding=padding, output_grad=g, hardware=SCNN)
    for p in PASSES:
        b = r.passes[p]
        assert b.compute_cycles >= b.base_cycles, p
        assert b.speedup <= 1.0


def test_scnn_effectual_macs_exact_and_linear_layers():
    rng = np.random.default_rng(15)
    w, a, g = _layer(rng, stride=2)
    r = simulate_layer(w, a, stride=2, padding=1, output_grad=g, hardware=SCNN)
    i = simulate_layer(w, a, stride=2, padding=1, output_grad=g, hardware=IDEAL)
    for p in PASSES:
        assert r.passes[p].effectual_macs == i.passes[p].effectual_macs
    lw, la, lg = rand((30, 50), 0.3, rng), rand((4, 50), 0.5, rng), rand((4, 30), 0.8, rng)
    for hw in (SCNN, SYSTOLIC, IDEAL):
        lin = simulate_layer(lw, la, output_grad=lg, hardware=hw).to_dict()
        assert set(lin) == set(PASSES)
        assert all(v["compute_cycles"] > 0 and v["energy_pj"] > 0 for v in lin.values())


def test_grouped_conv_all_kinds():
    rng = np.random.default_rng(16)
    w = rand((8, 2, 3, 3), 0.5, rng)   # 4 groups of 2 -> 2
    a = rand((1, 8, 6, 6), 0.5, rng)
    g = rand((1, 8, 6, 6), 0.5, rng)
    for hw in (SCNN, SYSTOLIC, IDEAL):
        r = simulate_layer(w, a, padding=1, output_grad=g, hardware=hw)
        assert all(b.effectual_macs > 0 for b in r.passes.values())


# ---- hardware -----------------------------------------------------------------------------
def raises(source, *words):
    with pytest.raises(HardwareError) as info:
        load_hardware(source)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message, (word, message)


@pytest.mark.parametrize("source, words", [
    ({"array": {"kind": "systolic"}, "systolic": {"height": 0}}, ["[systolic] height", ">= 1"]),
    ({"array": {"kind": "systolic"}, "systolic": {"width": 2.5}}, ["[systolic] width", "integer"]),
    ({"array": {"kind": "systolic"}, "systolic": {"dataflow": "rs"}},
     ["[systolic] dataflow", '"os"', '"ws"', '"is"']),
    ({"array": {"kind": "systolic"}, "systolic": {"compat": "timeloop"}},
     ["[systolic] compat", '"scalesim"', '"pipelined"']),
    ({"array": {"kind": "systolic"}, "systolic": {"rows": 4}},
     ["[systolic] rows", "known keys: height, width, dataflow, compat"]),
    ({"array": {"kind": "scnn"}, "scnn": {"weights_per_cycle": 0}}, ["[scnn] weights_per_cycle"]),
    ({"array": {"kind": "scnn"}, "scnn": {"accumulator_banks": "32"}},
     ["[scnn] accumulator_banks", "integer"]),
    ({"array": {"kind": "ideal"}, "ideal": {"multipliers": -1}}, ["[ideal] multipliers"]),
    ({"array": {"kind": "systolic", "tiles": 16}}, ["[array] tiles", '"systolic"',
                                                    "[systolic] height"]),
    ({"array": {"kind": "ideal", "lanes": 8}}, ["[array] lanes", "[ideal] multipliers"]),
    ({"array": {"kind": "systolic", "height": 8}}, ["[array] height", "[systolic]"]),
    ({"array": {"kind": "systolic"}, "frontend": {"kind": "tcl"}},
     ["[frontend]", 'kind = "systolic"', '"bit-tactical"']),
    ({"array": {"kind": "scnn"}, "backend": {}}, ["[backend]", '"scnn"']),
    ({"array": {"kind": "scnn"}, "systolic": {"height": 8}}, ["[systolic]", '"scnn"']),
    ({"systolic": {"height": 8}}, ["[systolic]", '"bit-tactical"', 'kind = "systolic"']),
    ({"ideal": {}}, ["[ideal]", '"bit-tactical"']),
    ({"height": 8}, ["height", "[systolic]"]),
])
def test_bad_configs_one_line(source, words):
    raises(source, *words)


def test_direct_construction_rejects_foreign_fields():
    with pytest.raises(HardwareError, match=r"\[array\] tiles = 8 does not apply"):
        Hardware(array=ArraySpec(kind="systolic", tiles=8))
    with pytest.raises(HardwareError, match=r"\[systolic\] does not apply"):
        Hardware(systolic=SystolicSpec(height=8))
    with pytest.raises(HardwareError, match=r"\[scnn\] pe_rows"):
        ScnnSpec(pe_rows=0)


@pytest.mark.parametrize("name", ["systolic-os-32x32", "scnn", "ideal"])
def test_builtins_round_trip_and_sweep(name, tmp_path):
    hw = builtin_hardware(name)
    assert load_hardware(name) == hw and hw.name == name
    path = tmp_path / "hw.toml"
    path.write_text(hw.to_toml(), encoding="utf-8")
    assert load_hardware(path) == hw and load_hardware(hw.to_dict()) == hw
    assert set(hw.to_dict()) == {"name", "array", hw.array.kind, "memory", "energy"}
    assert set(hw.to_dict()["array"]) == {"kind", "pe_bits", "clock_ghz"}
    key = {"systolic-os-32x32": "systolic.height", "scnn": "scnn.pe_rows",
           "ideal": "ideal.multipliers"}[name]
    digests = {hw.replace(**{key: v}).digest() for v in (1, 2, 4, 8)}
    assert len(digests) == 4
    with pytest.raises(HardwareError, match=r"\[array\] tiles"):
        hw.replace(**{"array.tiles": 4})
    with pytest.raises(HardwareError, match=r"\[frontend\] does not apply"):
        hw.replace(**{"frontend.lookahead": 1})


def test_replace_switches_kind():
    bt = builtin_hardware("bit-tactical")
    sy = bt.replace(**{"array.kind": "systolic", "systolic.dataflow": "ws"})
    assert sy.systolic == SystolicSpec(dataflow="ws") and sy.array.tiles == 16
    assert sy.frontend == type(bt.frontend)()
    back = sy.replace(**{"array.kind": "bit-tactical"})
    assert back.array == bt.array and back.systolic == SystolicSpec()
    assert bt.replace(**{"array.kind": "ideal"}).multipliers == 4096
    assert SCNN.multipliers == 1024 and SYSTOLIC.multipliers == 1024
    assert dense_baseline(SYSTOLIC) is SYSTOLIC
    with pytest.raises(HardwareError, match="dense_baseline"):
        dense_baseline(SCNN)
    assert "systolic 32x32, os" in SYSTOLIC.describe()
