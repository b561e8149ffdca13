"""Every built-in machine on one yardstick (issue 13; run on demand, results committed).

    .venv/bin/python benchmarks/bench_machines.py [--out benchmarks/results/machines.json]
    .venv/bin/python benchmarks/bench_machines.py --table   # the README table from the JSON

A synthetic SWAT-U 90% ResNet-50/ImageNet training step (batch 1, seed 0) on every built-in
machine against the reference ``dadiannao`` (the synthetic trace generated once, the reference
run once per layer and pass: :func:`accelsim.api.compare_synthetic`): per machine the time,
speedup and energy efficiency against the reference, energy and its breakdown, area and its
breakdown, effectual GOPS, GOPS/mm2 and GOPS/W of the training step, plus the forward and
backward figures.  Also the cost of the reference: the default machine simulated with and
without it.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import add_table_option, machine, printed_table, write_json_atomic  # noqa: E402

from accelsim.api import compare_synthetic, simulate_synthetic  # noqa: E402
from accelsim.spec.hardware import BUILTIN_HARDWARE, load_hardware  # noqa: E402
from accelsim.yardstick import DEFAULT_REFERENCE, machine_figures  # noqa: E402

WORKLOAD = {"model": "resnet50", "dataset": "imagenet", "method": "swat-u", "sparsity": 0.9,
            "batch": 1, "seed": 0}
KEEP = ("time_s", "speedup", "speedup_vs_own_dense", "energy_pj", "energy_breakdown_pj",
        "energy_efficiency", "effectual_macs", "effectual_gops", "gops_per_w", "gops_per_mm2",
        "compute_cycles", "stall_cycles", "base_cycles")
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "machines.json"


def _timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def reference_cost() -> dict[str, float]:
    """Wall seconds of the default machine on the workload without and with the reference."""
    _, alone = _timed(simulate_synthetic, WORKLOAD["model"], "bit-tactical", reference=None,
                      **{k: v for k, v in WORKLOAD.items() if k != "model"})
    _, with_ref = _timed(simulate_synthetic, WORKLOAD["model"], "bit-tactical",
                         **{k: v for k, v in WORKLOAD.items() if k != "model"})
    return {"without_reference_s": alone, "with_reference_s": with_ref,
            "overhead": with_ref / alone - 1}


def run() -> dict[str, Any]:
    simulate_synthetic("resnet20", "bit-tactical-tcle", dataset="cifar10")  # JIT warm-up
    reports, wall = _timed(compare_synthetic, WORKLOAD["model"], BUILTIN_HARDWARE,
                           **{k: v for k, v in WORKLOAD.items() if k != "model"})
    machines = []
    for name, report in zip(BUILTIN_HARDWARE, reports, strict=True):
        totals = report.total_figures()
        machines.append({"builtin": name, "name": report.hardware.name,
                         "describe": report.hardware.describe(),
                         "hardware_digest": report.hardware.digest(),
                         **machine_figures(report.hardware),
                         **{p: {k: totals[p][k] for k in KEEP}
                            for p in ("training_step", "forward", "backward")}})
    return {"machine": machine(), "workload": WORKLOAD, "reference": DEFAULT_REFERENCE,
            "reference_hardware": load_hardware(DEFAULT_REFERENCE).to_dict(),
            "wall_s": wall, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "reference_cost": reference_cost(), "machines": machines}


def render_table(data: dict[str, Any]) -> str:
    """The README table of a result (the training step of every machine)."""
    head = ("| machine | time (ms) | speedup vs dadiannao | energy (uJ): compute / frontend / "
            "buffers / DRAM | energy eff. | area (mm2): compute / frontend / buffers | "
            "GOPS/mm2 | GOPS/W |\n|---|---|---|---|---|---|---|---|")
    rows = []
    for m in data["machines"]:
        t = m["training_step"]
        e, a = t["energy_breakdown_pj"], m["area_breakdown_mm2"]
        parts = " / ".join(f"{e[k] / 1e6:.0f}" for k in ("compute", "frontend", "buffers", "dram"))
        areas = " / ".join(f"{a[k]:.2f}" for k in ("compute", "frontend", "buffers"))
        rows.append(f"| {m['builtin']} | {t['time_s'] * 1e3:.3f} | {t['speedup']:.2f}x | "
                    f"{t['energy_pj'] / 1e6:.0f}: {parts} | {t['energy_efficiency']:.2f}x | "
                    f"{m['area_mm2']:.1f}: {areas} | {t['gops_per_mm2']:.2f} | "
                    f"{t['gops_per_w']:.1f} |")
    return "\n".join([head, *rows])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    add_table_option(parser)
    args = parser.parse_args()
    if printed_table(args, render_table):
        return
    result = run()
    write_json_atomic(args.out, result)
    print(f"wall {result['wall_s']:.1f} s, reference cost {result['reference_cost']}")
    print(render_table(result))


if __name__ == "__main__":
    main()
