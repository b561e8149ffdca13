"""One yardstick (issue 13): every machine against one reference on the same operands, through
one energy model.  The invariants, and tests that would have caught the issue's findings."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim import api
from accelsim.pipeline.area import area_breakdown_mm2
from accelsim.simulate import simulate, simulate_layer, simulate_many
from accelsim.spec.hardware import BUILTIN_HARDWARE, builtin_hardware, ideal_bound, load_hardware
from accelsim.spec.technology import load_technology
from accelsim.trace.schema import PASSES

TOTALS = ("forward", "backward_input", "backward_weight", "backward", "training_step")


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    """A synthetic SWAT-U 90% digits-cnn training step (batch 2)."""
    path = tmp_path_factory.mktemp("yardstick") / "d.trace"
    return api.synthetic_trace(path, model="digits-cnn", dataset="digits", method="swat-u",
                               sparsity=0.9, batch=2)


@pytest.fixture(scope="module")
def builtins(trace):
    """Every built-in machine on the trace against dadiannao, the reference run once."""
    return dict(zip(BUILTIN_HARDWARE, simulate_many(trace, BUILTIN_HARDWARE), strict=True))


def _all_figures(report):
    for lr in report.layers:
        for p in lr.passes:
            yield f"{lr.geometry.name}/{p}", lr.figures(p)
    yield from report.total_figures().items()


@pytest.mark.parametrize("name", BUILTIN_HARDWARE)
def test_reference_against_itself_is_exactly_one(trace, name):
    report = simulate(trace, name, reference=name)
    for where, d in _all_figures(report):
        assert d["speedup"] == 1.0 and d["energy_efficiency"] == 1.0, where


def test_dadiannao_is_one_against_the_default_reference(builtins):
    """The issue's "DaDianNao reports 1.06x energy efficiency against dense"."""
    for where, d in _all_figures(builtins["dadiannao"]):
        assert d["speedup"] == 1.0 and d["energy_efficiency"] == 1.0, where
        assert d["reference"] == "dadiannao"


def test_default_machine_speedup_is_its_own_dense_speedup(builtins):
    """Bit-Tactical's own dense twin is dadiannao: its speedup is unchanged, exactly."""
    for where, d in _all_figures(builtins["bit-tactical"]):
        assert d["speedup"] == d["speedup_vs_own_dense"], where


def test_speedup_compares_times_not_cycles(trace):
    slow = load_hardware("bit-tactical").replace(**{"array.clock_ghz": 0.5})
    fast = simulate(trace, "bit-tactical", passes=["forward"]).total_figures()["forward"]
    half = simulate(trace, slow, passes=["forward"]).total_figures()["forward"]
    assert half["compute_cycles"] == fast["compute_cycles"]
    assert half["time_s"] == pytest.approx(2 * fast["time_s"])
    assert half["speedup"] == pytest.approx(fast["speedup"] / 2)


def test_breakdown_sums_to_the_total_everywhere(builtins):
    for name, report in builtins.items():
        d = report.to_dict()
        assert d["area_mm2"] == sum(d["area_breakdown_mm2"].values())
        for where, f in _all_figures(report):
            parts = f["energy_breakdown_pj"]
            assert set(parts) == {"compute", "frontend", "buffers", "dram"}
            assert f["energy_pj"] == sum(parts.values()), (name, where)
            assert all(v >= 0 for v in parts.values())


@pytest.mark.parametrize("total", TOTALS)
def test_ideal_is_a_lower_bound_in_time_and_compute_energy(builtins, total):
    ideal = builtins["ideal"].total_figures()[total]
    for name, report in builtins.items():
        d = report.total_figures()[total]
        assert ideal["time_s"] <= d["time_s"], name
        assert ideal["energy_breakdown_pj"]["compute"] <= d["energy_breakdown_pj"]["compute"], name
        # the "the ideal array uses more energy than Bit-Tactical"
        assert ideal["energy_pj"] <= d["energy_pj"], name


@pytest.mark.parametrize("name", BUILTIN_HARDWARE)
def test_ideal_bound_of_each_machine(trace, name):
    hw = builtin_hardware(name)
    mine, bound = simulate_many(trace, (hw, ideal_bound(hw)), reference=None)
    for p in PASSES:
        b, i = mine.totals()[p], bound.totals()[p]
        assert i.compute_cycles <= b.compute_cycles
        assert i.energy_breakdown_pj["compute"] <= b.energy_breakdown_pj["compute"]


def test_bit_serial_compute_energy_scales_with_bits():
    """TCLp: a lane op per activation bit up to the precision of the step: every activation
    1, 3, 7 or 15 (1 to 4 bits) costs 1 to 4 times the compute energy of 1."""
    hw = load_hardware("bit-tactical-tclp").replace(**{"frontend.kind": "dense"})
    w = np.ones((16, 16))
    compute = {}
    for value in (1, 3, 7, 15):
        f = simulate_layer(w, np.full((16, 16), float(value)), hardware=hw,
                           reference=None).passes["forward"]
        compute[value] = f.energy_breakdown_pj["compute"]
    for value, bits in ((3, 2), (7, 3), (15, 4)):
        assert compute[value] == pytest.approx(bits * compute[1])


def test_bit_serial_terms_exactly():
    """TCLe: a lane op per term.  Values 1 (1 term) and 5 (2 terms) and 21 (3 terms) in one
    tensor; the dense front end feeds every lane, so the ops are terms x 16 filters."""
    hw = load_hardware("bit-tactical-tcle").replace(**{"frontend.kind": "dense"})
    tech = load_technology(hw.energy.technology)
    per_op = tech.serial_lane(16)[0] + 16 * hw.backend.bits_first_stage * tech.mux_energy_pj_per_bit
    w = np.ones((16, 16))
    for value, terms in ((1, 1), (5, 2), (21, 3)):
        a = np.zeros((16, 16))
        a[0, 0] = 21  # sets the scale: 21 is the largest magnitude, quantised exactly
        a[1:, 0] = value
        f = simulate_layer(w, a, hardware=hw, reference=None).passes["forward"]
        ops = f.energy_breakdown_pj["compute"] / per_op
        assert ops == pytest.approx(16 * (3 + 15 * terms))


def test_skipped_zero_weights_cost_no_mac_energy():
    """With TCL (weights scheduled) only non-zero weights reach a lane: compute energy is
    non-zero weights x windows x one MAC, wherever the zeros are."""
    hw = load_hardware("bit-tactical").replace(**{"frontend.schedule": "weights"})
    rng = np.random.default_rng(0)
    a = rng.standard_normal((1, 16, 6, 6))
    mac = load_technology(hw.energy.technology).mac(16)[0]
    for density in (0.1, 0.5):
        w = np.where(rng.random((32, 16, 3, 3)) < density, 1.0, 0.0)
        f = simulate_layer(w, a, padding=1, hardware=hw, reference=None).passes["forward"]
        windows = 6 * 6
        assert f.energy_breakdown_pj["compute"] == pytest.approx(
            np.count_nonzero(w) * windows * mac)
    dense = load_hardware("dadiannao")
    f = simulate_layer(w, a, padding=1, hardware=dense, reference=None).passes["forward"]
    assert f.energy_breakdown_pj["compute"] == pytest.approx(w.size * 36 * mac)


def test_scnn_beats_dense_per_multiplier(builtins):
    """The issue's "SCNN worse than dense": against the same reference, SCNN (1,024
    multipliers) spends less energy than dadiannao (4,096) and, per multiplier, is faster."""
    d = builtins["scnn"].total_figures()["forward"]
    assert d["energy_efficiency"] > 1
    ratio = builtin_hardware("dadiannao").multipliers / builtin_hardware("scnn").multipliers
    assert d["speedup"] * ratio > 1


def test_backward_weight_saving_is_in_compute(builtins):
    """The issue's "backward-weight saves about 1.06x on every sparse design": its dense
    output gradient moves through the buffers and DRAM as on the reference (which the
    breakdown shows), while the compute part falls with the sparsity."""
    for name in ("bit-tactical", "bit-tactical-tclp", "bit-tactical-tcle", "scnn"):
        report = builtins[name]
        mine = report.total_figures()["backward_weight"]["energy_breakdown_pj"]
        ref = report.reference_totals()["backward_weight"].energy_breakdown_pj
        assert ref["compute"] / mine["compute"] > 2, name
        assert mine["dram"] == pytest.approx(ref["dram"], rel=0.05), name


def test_gops_figures(builtins):
    for report in builtins.values():
        d = report.total_figures()["training_step"]
        area = report.to_dict()["area_mm2"]
        assert d["effectual_gops"] == pytest.approx(2 * d["effectual_macs"] / d["time_s"] / 1e9)
        assert d["gops_per_mm2"] == pytest.approx(d["effectual_gops"] / area)
        watts = d["energy_pj"] * 1e-12 / d["time_s"]
        assert d["gops_per_w"] == pytest.approx(d["effectual_gops"] / watts)


def test_area_model():
    tactical, dense = builtin_hardware("bit-tactical"), builtin_hardware("dadiannao")
    assert area_breakdown_mm2(dense)["frontend"] == 0
    t25 = area_breakdown_mm2(tactical)["frontend"]
    wider = tactical.replace(**{"frontend.lookahead": 4, "frontend.lookaside": 6})
    assert area_breakdown_mm2(wider)["frontend"] > t25 > 0
    # a bit-serial column is not a bit-parallel PE (the TCLe x16 = 16x the area)
    tcle = area_breakdown_mm2(builtin_hardware("bit-tactical-tcle"))["compute"]
    assert tcle < 4 * area_breakdown_mm2(tactical)["compute"]
    node65 = tactical.replace(**{"energy.technology": "65nm"})
    assert sum(area_breakdown_mm2(node65).values()) > sum(area_breakdown_mm2(tactical).values())
