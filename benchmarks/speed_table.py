"""The README's speed tables, rendered from ``benchmarks/results/speed.json``
(``bench_speed.py --table``; ``tests/test_readme_tables.py`` checks the README holds them).

Every figure is a ratio of two times (or a peak) measured in the one run the JSON records.
"""

from __future__ import annotations

from typing import Any

MB_PER_GB = 1024


def _layer_rows(layer: dict[str, Any]) -> list[str]:
    runs = layer["runs"]
    bp, tcle = runs["bit-tactical"]["wall_s"], runs["bit-tactical-tcle"]["wall_s"]
    return [
        f"| TCLe / bit-parallel, `{layer['layer']}` batch 1, 3 passes (best of 3) | "
        f"{layer['tcle_over_bit_parallel']:.1f} ({tcle * 1e3:.0f} ms / {bp * 1e3:.0f} ms) | "
        f"<= {layer['target_tcle_over_bit_parallel']} |",
        f"| TCLp / bit-parallel, same layer | {layer['tclp_over_bit_parallel']:.1f} | - |",
    ]


def _scnn_rows(scnn: dict[str, Any]) -> list[str]:
    bp, sc = scnn["bit-parallel"], scnn["scnn"]
    return [
        "| SCNN / bit-parallel, ResNet-50 SWAT-U 90% step batch 1 (simulation only; wall; CPU) "
        f"| {scnn['scnn_over_bit_parallel']:.1f}; {scnn['scnn_over_bit_parallel_cpu']:.1f} "
        f"({sc['wall_s']:.1f} s / {bp['wall_s']:.1f} s) | <= {scnn['target_ratio']} |",
        f"| SCNN peak memory, same step | {sc['peak_rss_mb']:.0f} MB (bit-parallel "
        f"{bp['peak_rss_mb']:.0f} MB) | < {scnn['target_mb']} MB |",
    ]


def _cold_row(cold: dict[str, Any]) -> str:
    pairs = cold.get("pairs", [cold])
    one = cold.get("cold_one_thread")
    alone = f"; one process compiling: {one['process_s']:.1f} s" if one else ""
    median = f", median of {len(pairs)} pairs" if len(pairs) > 1 else ""
    return (f"| cold / warm first call (TCLe, empty `NUMBA_CACHE_DIR`, fresh processes{median}) "
            f"| {cold['cold_over_warm_first_call']:.1f} ({cold['cold']['process_s']:.1f} s / "
            f"{cold['warm']['process_s']:.1f} s{alone}) | <= {cold['target']} |")


def _threads_row(threads: dict[str, Any]) -> str:
    tries = threads["tries"]
    last = tries[-1]
    return (f"| 1 thread / 2 threads, ResNet-50 TCLe step batch {threads['batch']} "
            f"(simulation only, try {len(tries)} of {len(tries)}) | "
            f"{threads['one_over_two']:.2f} ({last['one_thread']['wall_s']:.1f} s / "
            f"{last['two_threads']['wall_s']:.1f} s) | >= {threads['target']} |")


def _memory_row(memory: dict[str, Any]) -> str:
    parts = []
    for name, run in memory["runs"].items():
        text = f"{name} {run['peak_rss_mb']:.0f} MB"
        if run.get("partial"):
            text += (f" (stopped after {run['timeout_s']:.0f} s, "
                     f"{run['layers_done']} layers)")
        else:
            text += f" ({run['wall_s'] + run.get('generate_s', 0.0):.0f} s)"
        parts.append(text)
    target = memory["target_mb"] / MB_PER_GB
    at_once = " (the four at once; times: drawing + simulating)" if memory.get("parallel") else ""
    return (f"| peak memory, ResNet-50 step batch {memory['batch']}{at_once} | "
            f"{'; '.join(parts)} | "
            f"< {target:.0f} GB each |")


def render_table(data: dict[str, Any]) -> str:
    """The README tables of one ``bench_speed.py`` result: the figures against their targets,
    then the simulated dense MACs per second next to SCALE-Sim's."""
    rows = ["| figure | measured | target |", "|---|---|---|"]
    if "layer" in data:
        rows += _layer_rows(data["layer"])
    if "scnn" in data:
        rows += _scnn_rows(data["scnn"])
    if "cold" in data:
        rows.append(_cold_row(data["cold"]))
    if "threads" in data:
        rows.append(_threads_row(data["threads"]))
    if "memory" in data:
        rows.append(_memory_row(data["memory"]))
    if "layer" not in data:
        return "\n".join(rows)
    macs = data["layer"]["simulated_dense_macs_per_s"]
    scalesim = data["layer"].get("scalesim_simulated_dense_macs_per_s", {})
    layer = data["layer"]["layer"]
    rows += ["", "| simulated dense MACs/s | |", "|---|---|",
             f"| accelsim bit-parallel (`{layer}`) | {macs['bit-parallel']:.2e} |",
             f"| accelsim TCLe (`{layer}`) | {macs['tcle']:.2e} |"]
    labels = {"cli": "CLI", "no-trace": "no trace files"}
    rows += [f"| SCALE-Sim v3, ResNet-50 forward, {labels.get(mode, mode)} (`scalesim.json`) | "
             f"{value:.2e} |" for mode, value in scalesim.items()]
    return "\n".join(rows)
