"""Bit-serial back ends: speed, SWAT Table 6 with TCLe, memory stalls and energy (run on demand,
results committed).

    .venv/bin/python benchmarks/bench_backends.py [--scalesim-python /tmp/scalesim-venv/bin/python]
        [--out benchmarks/results/backends.json]

1. Speed: a synthetic SWAT-U 90% trace of ResNet-50/ImageNet at batch 1, all three passes,
   T<2,5>, TCLe (``bit-tactical-tcle``: 16 bit-serial columns): wall time (second call; the
   first loads the numba cache), peak RSS, simulated dense MACs per second.  Target: < 3 min.
2. Per layer, side by side in this run: ResNet-50's 1x1 256->64 conv at 56x56
   (``layer1.1.conv1``) -- accelsim TCLe, the layer's whole training step -- against SCALE-Sim
   v3 (its own venv; Python API with ``save_disk_space=True``, i.e. no trace files, its
   fastest mode) on the same layer shape, forward, 32x32 output-stationary array (SCALE-Sim's
   shipped ``configs/scale.cfg``).  Target: >= 100x SCALE-Sim's simulated MACs per second.
3. SWAT Table 6 view: forward / backward speedups of SWAT-U ResNet-50 at 80% and 90% with
   T<2,5> and the bit-parallel, TCLp and TCLe back ends (each against its own dense base, and
   against the DaDianNao bit-parallel machine's cycles), with energy efficiency.
4. TCLe at 90% with ``[memory] kind = "dram"`` (defaults: 25.6 GB/s, 100 ns, 32 MiB weight and
   4 MiB activation buffers, double buffering): stall cycles.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    SCALESIM_API_DRIVER,
    machine,
    scalesim_rows,
    write_json_atomic,
    write_scalesim_inputs,
)

from accelsim.api import layer_table, simulate_synthetic  # noqa: E402
from accelsim.simulate import simulate_operands  # noqa: E402
from accelsim.spec.hardware import builtin_hardware  # noqa: E402
from accelsim.trace.synthetic import SyntheticSpec, generate_layers  # noqa: E402

LAYER = "layer1.1.conv1"  # ResNet-50 1x1 256 -> 64 at 56x56


def totals(report) -> dict[str, Any]:
    t = report.totals()
    return {k: {"base_cycles": v.base_cycles, "compute_cycles": v.compute_cycles,
                "stall_cycles": v.stall_cycles, "speedup": v.speedup,
                "energy_pj": v.energy_pj, "energy_efficiency": v.energy_efficiency}
            for k, v in t.items()}


def run(sparsity: float, hw) -> tuple[dict[str, Any], float]:
    t0 = time.perf_counter()
    report = simulate_synthetic("resnet50", hw, dataset="imagenet", method="swat-u",
                                sparsity=sparsity, batch=1)
    return totals(report), time.perf_counter() - t0


def layer_speed(hw) -> dict[str, Any]:
    spec = SyntheticSpec.for_method("resnet50", "swat-u", 0.9, dataset="imagenet", batch=1)
    g, ops = next((g, ops) for g, ops in generate_layers(spec) if g.name == LAYER)
    simulate_operands(g, ops, hw)  # warm
    t0 = time.perf_counter()
    r = simulate_operands(g, ops, hw)
    wall = time.perf_counter() - t0
    macs = g.macs_per_sample * len(r.passes)
    return {"layer": LAYER, "passes": list(r.passes), "wall_s": wall, "dense_macs": macs,
            "simulated_dense_macs_per_s": macs / wall,
            "speedup": {p: b.speedup for p, b in r.passes.items()}}


def scalesim_layer(python: str) -> dict[str, Any]:
    g = next(g for g in layer_table("resnet50", "imagenet") if g.name == LAYER)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cfg, topo, layout = write_scalesim_inputs(work, scalesim_rows([g]), "one_layer")
        t0 = time.perf_counter()
        proc = subprocess.run([python, "-c", SCALESIM_API_DRIVER, str(cfg), str(topo),
                               str(layout), str(work / "out")], capture_output=True, text=True,
                              cwd=work)
        process_wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"SCALE-Sim failed: {proc.stderr.strip().splitlines()[-1:]}")
    wall = float(next(line.split()[1] for line in proc.stdout.splitlines()
                      if line.startswith("WALL")))
    macs = g.macs_per_sample
    return {"layer": LAYER, "mode": "python API, save_disk_space=True", "array": "32x32 os",
            "wall_s": wall, "process_wall_s": process_wall, "dense_macs": macs,
            "simulated_dense_macs_per_s": macs / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/backends.json")
    parser.add_argument("--scalesim-python", default="/tmp/scalesim-venv/bin/python",
                        help="python of a venv with scalesim (skip SCALE-Sim if missing)")
    args = parser.parse_args()
    tcle = builtin_hardware("bit-tactical-tcle")
    tclp = builtin_hardware("bit-tactical-tclp")
    bitpar = builtin_hardware("bit-tactical")
    dense = builtin_hardware("dadiannao")
    result: dict[str, Any] = {"machine": machine(), "hardware": tcle.to_dict()}

    # 1. speed
    run(0.9, tcle)  # warm-up: numba cache
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t90, wall = run(0.9, tcle)
    macs = 3 * sum(g.macs_per_sample for g in layer_table("resnet50", "imagenet"))
    result["speed"] = {"wall_s": wall, "simulated_dense_macs_per_s": macs / wall,
                       "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                       "peak_rss_mb_before": rss0, "target_s": 180}
    print(f"speed: TCLe ResNet-50 training step {wall:.1f} s", flush=True)

    # 2. per layer against SCALE-Sim
    ours = layer_speed(tcle)
    result["layer_vs_scalesim"] = {"accelsim_tcle": ours}
    if Path(args.scalesim_python).exists():
        theirs = scalesim_layer(args.scalesim_python)
        result["layer_vs_scalesim"]["scalesim"] = theirs
        result["layer_vs_scalesim"]["ratio"] = (ours["simulated_dense_macs_per_s"]
                                                / theirs["simulated_dense_macs_per_s"])
        print(f"layer {LAYER}: accelsim {ours['wall_s']:.3f} s for 3 passes, SCALE-Sim "
              f"{theirs['wall_s']:.2f} s for forward: "
              f"{result['layer_vs_scalesim']['ratio']:.0f}x the MACs/s", flush=True)
    else:
        print(f"SCALE-Sim python {args.scalesim_python} missing: per-layer comparison skipped")

    # 3. Table 6
    table: dict[str, Any] = {}
    for s in (0.8, 0.9):
        dd, _ = run(s, dense)
        for name, hw in (("bit-parallel", bitpar), ("tclp", tclp), ("tcle", tcle)):
            t, w = (t90, wall) if (name == "tcle" and s == 0.9) else run(s, hw)
            table[f"{s}/{name}"] = {
                "wall_s": w,
                "forward": t["forward"]["speedup"], "backward": t["backward"]["speedup"],
                "training_step": t["training_step"]["speedup"],
                "forward_vs_dadiannao": dd["forward"]["compute_cycles"]
                / t["forward"]["compute_cycles"],
                "backward_vs_dadiannao": dd["backward"]["compute_cycles"]
                / t["backward"]["compute_cycles"],
                "energy_efficiency_step": t["training_step"]["energy_efficiency"],
                "totals": t}
            print(f"{s}/{name:12s} fw {table[f'{s}/{name}']['forward']:.2f}x  bw "
                  f"{table[f'{s}/{name}']['backward']:.2f}x  (vs DaDianNao fw "
                  f"{table[f'{s}/{name}']['forward_vs_dadiannao']:.2f}x bw "
                  f"{table[f'{s}/{name}']['backward_vs_dadiannao']:.2f}x)  energy eff "
                  f"{table[f'{s}/{name}']['energy_efficiency_step']:.2f}x", flush=True)
    result["table6"] = table
    result["paper_table6"] = {"0.8": {"forward": 3.3, "backward": 3.4},
                              "0.9": {"forward": 5.6, "backward": 6.3}}

    # 4. DRAM stalls
    t, w = run(0.9, tcle.replace(**{"memory.kind": "dram"}))
    result["tcle_dram_0.9"] = {"wall_s": w, "totals": t}
    step = t["training_step"]
    print(f"tcle + dram: compute {step['compute_cycles']} stall {step['stall_cycles']} "
          f"speedup {step['speedup']:.2f}x", flush=True)

    write_json_atomic(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
