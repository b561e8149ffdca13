"""Simulator speed and the shape of SWAT Table 6 (run on demand, results committed).

    .venv/bin/python benchmarks/bench_simulator.py [--out benchmarks/results/simulator.json]

1. Speed: a synthetic SWAT-U 90% trace of ResNet-50/ImageNet at batch 1, all three passes,
   T<2,5>, bit-parallel: wall time, peak RSS, simulated dense MACs per second.
2. SWAT Table 6 view: forward / backward speedups of SWAT-U ResNet-50 at 80% and 90% with
   T<2,5>, and a lookahead sweep over T<h,5> for h = 1..8 (weight skipping alone is
   capped at h + 1).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, write_json_atomic  # noqa: E402

from accelsim.api import layer_table, simulate_synthetic  # noqa: E402
from accelsim.spec.hardware import default_hardware  # noqa: E402


def run(sparsity: float, hw) -> dict:
    t0 = time.perf_counter()
    report = simulate_synthetic("resnet50", hw, dataset="imagenet", method="swat-u",
                                sparsity=sparsity, batch=1)
    wall = time.perf_counter() - t0
    t = report.totals()
    return {"wall_s": wall, "forward": t["forward"].speedup,
            "backward": t["backward"].speedup, "backward_input": t["backward_input"].speedup,
            "backward_weight": t["backward_weight"].speedup,
            "training_step": t["training_step"].speedup}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="benchmarks/results/simulator.json")
    args = parser.parse_args()
    hw = default_hardware()
    run(0.9, hw)  # JIT warm-up (numba cache)
    speed = run(0.9, hw)
    macs = 3 * sum(g.macs_per_sample for g in layer_table("resnet50", "imagenet"))
    speed["simulated_dense_macs_per_s"] = macs / speed["wall_s"]
    speed["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    table6 = {str(s): run(s, hw) for s in (0.8, 0.9)}
    sweep = {}
    for s in (0.8, 0.9):
        for h in range(1, 9):
            machine_h = hw.replace(**{"frontend.lookahead": h})
            sweep[f"{s}/T<{h},5>"] = run(s, machine_h)
    result = {"machine": machine(), "hardware": hw.to_dict(), "speed": speed,
              "table6_T25": table6, "lookahead_sweep": sweep}
    write_json_atomic(args.out, result)
    print(json.dumps({"speed": speed, "table6_T25": table6}, indent=1))
    for k, v in sweep.items():
        print(f"{k:14s} fw {v['forward']:.2f}x  bw {v['backward']:.2f}x  step {v['training_step']:.2f}x")


if __name__ == "__main__":
    main()
