"""Memory pipeline (SimPy) stalls and the energy model: hand calculations and properties."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim import simulate_layer
from accelsim.pipeline.energy import AccessCounts, energy_parts
from accelsim.pipeline.memory import Block, blocks_of, memory_traffic, pass_memory
from accelsim.spec.hardware import builtin_hardware, load_hardware
from accelsim.spec.technology import TECHNOLOGY_DIR, load_technology

# 1 tile x 2 rows x 1 column x 4 lanes, dense front end, bit-parallel; DRAM 1 byte per cycle
# (1 GB/s at 1 GHz), 10 cycles latency, 64-byte buffers split in two 32-byte slots.
SLOW = {"array": {"tiles": 1, "rows": 2, "columns": 1, "lanes": 4},
        "frontend": {"kind": "dense", "lookaside": 0},
        "memory": {"kind": "dram", "bandwidth_gb_per_s": 1.0, "latency_ns": 10.0,
                   "weight_buffer_bytes": 64, "activation_buffer_bytes": 64,
                   "double_buffering": True}}


def test_memory_bound_layer_matches_hand_calculation():
    """Linear 8 -> 4, batch 2.  Filter rounds of 2 filters x 2 lines x 4 lanes x 2 bytes =
    32 bytes (one slot each); both windows' 16 source values = 32 bytes (one window tile,
    kept for both rounds).  Blocks: (round 0) and (round 1), 2 window sets x 2 lines = 4
    cycles each, 2 x 2 outputs x 2 bytes = 8 bytes written after each.

    DRAM (10 + bytes cycles per transfer, in request order): f0 0-42, w 42-84, f1 84-126
    (second weight slot free); block 0 computes 84-88 and queues its write 126-144; block 1
    waits for f1, computes 126-130, its write 144-162.  Done at 162: stalls = 162 - 8 = 154.
    """
    hw = load_hardware(SLOW)
    f = simulate_layer(np.ones((4, 8)), np.ones((2, 8)), hardware=hw).passes["forward"]
    assert (f.compute_cycles, f.stall_cycles) == (8, 154)
    assert f.total_cycles == 162 and f.speedup == 8 / 162
    ideal = hw.replace(**{"memory.kind": "ideal"})
    g = simulate_layer(np.ones((4, 8)), np.ones((2, 8)), hardware=ideal).passes["forward"]
    assert (g.compute_cycles, g.stall_cycles) == (8, 0)


def test_blocks_and_traffic_of_the_hand_case():
    from accelsim.arrays.bittactical import problem_timing

    hw = load_hardware(SLOW)
    t = problem_timing(np.ones((4, 2, 4), bool), np.ones((2, 2, 4), bool), hw, "filters")
    assert t.block_cycles.tolist() == [[2, 2], [2, 2]]
    assert t.round_bytes.tolist() == [32, 32] and t.window_set_bytes.tolist() == [16, 16]
    blocks = blocks_of([t], hw)
    assert blocks == [Block(4, 0, 32, 0, 32, 8), Block(4, 1, 32, 0, 32, 8)]
    assert memory_traffic(blocks) == (96, 16)


def test_single_buffering_hand_case():
    """Without double buffering the next tile cannot load during compute: one block of 10
    cycles needing 20 + 20 bytes, then a second needing a new 20-byte weight tile."""
    hw = load_hardware(SLOW).replace(**{"memory.double_buffering": False,
                                        "memory.latency_ns": 0.0})
    blocks = [Block(10, 0, 20, 0, 20, 0), Block(10, 1, 20, 0, 20, 0)]
    # f0 0-20, w 20-40, block 40-50, f1 50-70 (slot freed at 50), block 70-80
    assert pass_memory(blocks, hw).stall_cycles == 80 - 20
    double = hw.replace(**{"memory.double_buffering": True})
    # f0 0-20, w 20-40, f1 40-60; blocks 40-50 and 60-70
    assert pass_memory(blocks, double).stall_cycles == 70 - 20


@pytest.mark.parametrize("backend", ["bit-parallel", "tcle"])
def test_ideal_memory_never_stalls_and_dram_stalls_shrink_with_bandwidth(backend):
    rng = np.random.default_rng(0)
    w = np.where(rng.random((32, 16, 3, 3)) < 0.3, rng.standard_normal((32, 16, 3, 3)), 0)
    a = np.abs(rng.standard_normal((2, 16, 8, 8)))
    g = rng.standard_normal((2, 32, 8, 8))
    base = {"backend": {"kind": backend},
            "memory": {"weight_buffer_bytes": 4096, "activation_buffer_bytes": 4096}}
    ideal = simulate_layer(w, a, padding=1, output_grad=g, hardware=load_hardware(base))
    assert all(p.stall_cycles == 0 for p in ideal.passes.values())
    previous = None
    for bandwidth in (0.5, 4.0, 64.0):
        hw = load_hardware(base).replace(**{"memory.kind": "dram",
                                            "memory.bandwidth_gb_per_s": bandwidth})
        r = simulate_layer(w, a, padding=1, output_grad=g, hardware=hw)
        stalls = sum(p.stall_cycles for p in r.passes.values())
        for name, p in r.passes.items():
            assert p.compute_cycles == ideal.passes[name].compute_cycles
        if previous is not None:
            assert stalls <= previous
        previous = stalls
    assert previous is not None and previous > 0  # latency and the final write-back remain


def _tech_file(tmp_path, **changes):
    """A copy of the 45 nm table with ``section.key = value`` changed."""
    text = (TECHNOLOGY_DIR / "45nm.toml").read_text()
    for dotted, value in changes.items():
        section, key = dotted.split(".")
        head = text.index(f"[{section}]")
        start = text.index(f"\n{key} = ", head) + 1
        end = text.index("\n", start)
        text = text[:start] + f"{key} = {value}" + text[end:]
    path = tmp_path / "node.toml"
    path.write_text(text)
    return str(path)


def test_energy_formula_by_hand():
    hw = load_hardware(None)
    tech = load_technology("45nm")
    counts = AccessCounts(mac_ops=1, serial_ops=2, shift_bits=3, mux_bits=4, metadata_bits=5,
                          buffer_read_bits=10, buffer_write_bits=100, dram_bits=1000)
    compute, frontend, buffers, dram = energy_parts(counts, hw)
    assert compute == pytest.approx(tech.mac(16)[0] + 2 * tech.serial_lane(16)[0]
                                    + 3 * tech.mux_energy_pj_per_bit)
    assert frontend == pytest.approx(4 * tech.mux_energy_pj_per_bit
                                     + 5 * tech.sram_read_pj_per_bit)
    assert buffers == pytest.approx(10 * tech.sram_read_pj_per_bit
                                    + 100 * tech.sram_write_pj_per_bit)
    assert dram == 1000 * tech.dram_energy_pj_per_bit
    assert (counts + counts).to_dict()["dram_bits"] == 2000
    assert energy_parts(AccessCounts(), hw) == (0.0, 0.0, 0.0, 0.0)


def test_layer_energy_by_hand(tmp_path):
    """The memory hand case (dense, 64 MACs of 16 bits): 64 products; reads 2 window sets x
    (4 steps x 2 rows x 4 lanes) x 16 bits of weights + 2 rounds x 2 windows x 2 lines x 4 lanes
    x 16 bits of activations = 1536 bits; writes 8 outputs x 16 bits + the 96 bytes loaded;
    DRAM 96 + 16 bytes."""
    hw = load_hardware(SLOW)
    tech = load_technology(hw.energy.technology)
    f = simulate_layer(np.ones((4, 8)), np.ones((2, 8)), hardware=hw).passes["forward"]
    want = {"compute": 64 * tech.mac(16)[0], "frontend": 0.0,
            "buffers": 1536 * tech.sram_read_pj_per_bit
            + (128 + 96 * 8) * tech.sram_write_pj_per_bit,
            "dram": 112 * 8 * tech.dram_energy_pj_per_bit}
    assert f.energy_breakdown_pj == pytest.approx(want)
    assert f.energy_pj == pytest.approx(sum(want.values()))
    assert f.base_energy_pj == pytest.approx(f.energy_pj)  # dense, no zeros: its own twin
    cheap = hw.replace(**{"energy.technology": _tech_file(tmp_path,
                                                          **{"dram.energy_pj_per_bit": 1.0})})
    g = simulate_layer(np.ones((4, 8)), np.ones((2, 8)), hardware=cheap).passes["forward"]
    assert g.energy_breakdown_pj["dram"] == pytest.approx(112 * 8)
    assert g.energy_breakdown_pj["compute"] == f.energy_breakdown_pj["compute"]


def test_sparse_machines_save_energy():
    rng = np.random.default_rng(1)
    w = np.where(rng.random((64, 32, 3, 3)) < 0.1, rng.standard_normal((64, 32, 3, 3)), 0)
    a = np.abs(rng.standard_normal((1, 32, 8, 8))) * (rng.random((1, 32, 8, 8)) < 0.5)
    for name in ("bit-tactical", "bit-tactical-tcle"):
        r = simulate_layer(w, a, padding=1, hardware=builtin_hardware(name))
        f = r.passes["forward"]
        assert 0 < f.energy_pj < f.base_energy_pj
        d = r.to_dict()["forward"]
        assert d["energy_pj"] == sum(d["energy_breakdown_pj"].values())
        assert d["energy_efficiency"] > 1 and d["reference"] == "dadiannao"


def test_cli_reports_stalls_and_energy(capsys, tmp_path):
    import json

    from accelsim.cli import main

    assert main(["simulate", "--synthetic", "resnet20", "--dataset", "cifar10", "--hardware",
                 "bit-tactical-tcle", "--passes", "forward", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    fw = data["totals"]["forward"]
    assert data["hardware"]["backend"]["kind"] == "tcle"
    assert fw["speedup"] > 3 and fw["energy_pj"] > 0 and fw["stall_cycles"] == 0
    assert fw["energy_efficiency"] > 1
    hw_file = tmp_path / "hw.toml"
    hw_file.write_text('[backend]\nkind = "tclp"\n[memory]\nkind = "dram"\n'
                       "bandwidth_gb_per_s = 1.0\n")
    np.save(tmp_path / "W.npy", np.ones((8, 16, 3, 3)))
    np.save(tmp_path / "A.npy", np.ones((1, 16, 6, 6)))
    assert main(["simulate-layer", "--weights", str(tmp_path / "W.npy"), "--activations",
                 str(tmp_path / "A.npy"), "--padding", "1", "--hardware", str(hw_file)]) == 0
    out = capsys.readouterr().out
    assert "stall" in out and "energy" in out
    stall = int(out.split("stall")[1].split()[0])
    assert stall > 0
    assert main(["simulate", "--synthetic", "resnet20", "--dataset", "cifar10", "--passes",
                 "forward"]) == 0
    text = capsys.readouterr().out
    assert "stall cyc" in text and "energy uJ" in text
