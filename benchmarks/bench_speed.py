"""Speed of the bit-serial and SCNN paths against the bit-parallel one, thread scaling, the
first call with an empty compile cache, and peak memory (run on demand, results committed).

    .venv/bin/python benchmarks/bench_speed.py [--out benchmarks/results/speed.json]
        [--only layer,scnn,cold,threads,memory] [--memory-batch 32] [--memory-timeout 1800]
        [--memory-parallel] [--merge]
    .venv/bin/python benchmarks/bench_speed.py --table   # the README tables from the JSON

Every figure is a ratio of two times measured in this run (issue 18), and every case that
needs a clean process (peak RSS, the cold cache) runs in a subprocess of its own:

* ``layer``: TCLe (and TCLp) time / bit-parallel time on ResNet-50's 3x3 64->64 conv at 56x56
  (``layer1.0.conv2``), batch 1, all three passes, best of 3 warm calls; and the simulated
  dense MACs per second of bit-parallel and TCLe next to SCALE-Sim's
  (``benchmarks/results/scalesim.json``);
* ``scnn``: SCNN / bit-parallel on a synthetic ResNet-50 SWAT-U 90% training step at batch 1,
  with each one's peak RSS;
* ``cold``: first call of a fresh process with an empty ``NUMBA_CACHE_DIR`` / the same with
  the cache filled (TCLe on the layer above, the time to the first result), the median of
  three pairs, and a cold call on one thread (one process compiling);
* ``memory`` (last): peak RSS of a whole ResNet-50 training step at batch ``--memory-batch``
  per back end (target: under 2 GB), with the layer and step that set it, the time drawing
  the calibrated layers and simulating them, each stopped after ``--memory-timeout``
  seconds (then its peak is that of the layers done, marked partial);
* ``threads`` (repeated once when the load average is above 2): 1 thread / 2 threads on a
  ResNet-50 TCLe step at batch 4.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    add_table_option,
    loadavg,
    machine,
    printed_table,
    write_json_atomic,
)
from speed_table import render_table  # noqa: E402

HERE = Path(__file__).resolve().parent
LAYER = "layer1.0.conv2"
MEMORY_TIMEOUT = 1800
"""Seconds per back end of the memory case: a whole ResNet-50 step at batch 32 (drawing the
calibrated layers and simulating them) fits with room on the shared 2-core machine."""

# one case in a fresh process: argv = what, hardware, batch, threads, layer, repeats;
# prints JSON lines: "layer" one result; "step"/"step-warm" one progress line per layer
# ({"layers_done", "wall_s", "cpu_s", "generate_s", "peak_rss_mb"}; wall_s and cpu_s: the
# simulation only) and a last one with "done": true
CASE = """\
import json, resource, sys, time
t_start = time.perf_counter()
from accelsim.simulate import kernel_threads, simulate_operands
from accelsim.spec.hardware import builtin_hardware
from accelsim.trace.synthetic import SyntheticSpec, generate_layers
what, name, batch, threads, layer = sys.argv[1], sys.argv[2], int(sys.argv[3]), \\
    (None if sys.argv[4] == "all" else int(sys.argv[4])), sys.argv[5]
hw = builtin_hardware(name)
def rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
out = {}
if what == "layer":
    spec = SyntheticSpec.for_method("resnet50", "swat-u", 0.9, dataset="imagenet", batch=batch)
    g, ops = next((g, o) for g, o in generate_layers(spec) if g.name == layer)
    t0 = time.perf_counter()
    with kernel_threads(threads):
        r = simulate_operands(g, ops, hw)
    out["first_s"] = time.perf_counter() - t0
    out["process_s"] = time.perf_counter() - t_start
    best = []
    for _ in range(int(sys.argv[6])):
        t0 = time.perf_counter()
        with kernel_threads(threads):
            simulate_operands(g, ops, hw)
        best.append(time.perf_counter() - t0)
    out["wall_s"] = min(best) if best else out["first_s"]
    out["dense_macs"] = g.macs_per_sample * batch * len(r.passes)
    out["cycles"] = {p: b.compute_cycles for p, b in r.passes.items()}
    out["peak_rss_mb"] = rss()
    print(json.dumps(out))
    sys.exit(0)
def step(b, report):
    # wall_s / cpu_s: the simulation only; drawing the synthetic layers (the calibrated
    # generator is slower than the simulator on some layers) is timed apart, in generate_s
    spec = SyntheticSpec.for_method("resnet50", "swat-u", 0.9, dataset="imagenet", batch=b)
    wall, cpu, gen, cycles, n = 0.0, 0.0, 0.0, 0, 0
    peak, peak_at = rss(), None  # the layer and step (drawing or simulating) that set the peak
    with kernel_threads(threads):
        layers = iter(generate_layers(spec))  # one layer in memory at a time
        while True:
            t = time.perf_counter()
            item = next(layers, None)
            gen += time.perf_counter() - t
            if item is None:
                break
            g, ops = item
            if rss() > peak:
                peak, peak_at = rss(), [g.name, "generate"]
            t, c = time.perf_counter(), time.process_time()
            r = simulate_operands(g, ops, hw)
            wall += time.perf_counter() - t
            cpu += time.process_time() - c
            if rss() > peak:
                peak, peak_at = rss(), [g.name, "simulate"]
            del item, ops
            cycles += sum(x.compute_cycles for x in r.passes.values())
            n += 1
            if report:
                print(json.dumps({"layers_done": n, "wall_s": wall, "cpu_s": cpu,
                                  "generate_s": gen, "peak_rss_mb": rss(),
                                  "peak_at": peak_at}), flush=True)
    return {"layers_done": n, "wall_s": wall, "cpu_s": cpu, "generate_s": gen,
            "peak_rss_mb": rss(), "peak_at": peak_at, "cycles": cycles, "done": True}
if what == "step-warm":
    step(1, False)  # the kernels loaded (and compiled if the cache is cold)
print(json.dumps(step(batch, True)))
"""


def case(what: str, hw: str, batch: int = 1, threads: str = "all", repeats: int = 0,
         env: dict[str, str] | None = None, timeout: float = 3600) -> dict[str, Any]:
    """One case in a fresh process (see ``CASE``), with the load average around it.  A case
    that runs past ``timeout`` seconds is stopped and gives its last progress line, marked
    ``"partial": true``."""
    before = loadavg()
    argv = [sys.executable, "-c", CASE, what, hw, str(batch), threads, LAYER, str(repeats)]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env={**os.environ, **(env or {})}) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
            partial = False
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
            partial = True
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    if not lines:
        if partial:  # stopped before its first layer was done
            return {"layers_done": 0, "partial": True, "timeout_s": timeout,
                    "loadavg_before": before, "loadavg_after": loadavg()}
        return {"error": stderr.strip().splitlines()[-1:], "loadavg_before": before}
    out = json.loads(lines[-1])
    if partial:
        out.update(partial=True, timeout_s=timeout)
    return {**out, "loadavg_before": before, "loadavg_after": loadavg()}


def scalesim_macs_per_s() -> dict[str, Any]:
    path = HERE / "results" / "scalesim.json"
    if not path.exists():
        return {}
    d = json.loads(path.read_text())["scalesim"]
    return {mode: d[mode]["simulated_dense_macs_per_s"] for mode in d
            if "simulated_dense_macs_per_s" in d[mode]}


def bench_layer() -> dict[str, Any]:
    runs = {name: case("layer", name, repeats=3) for name in
            ("bit-tactical", "bit-tactical-tclp", "bit-tactical-tcle")}
    bp = runs["bit-tactical"]["wall_s"]
    return {"layer": LAYER, "runs": runs,
            "tcle_over_bit_parallel": runs["bit-tactical-tcle"]["wall_s"] / bp,
            "tclp_over_bit_parallel": runs["bit-tactical-tclp"]["wall_s"] / bp,
            "target_tcle_over_bit_parallel": 8,
            "simulated_dense_macs_per_s": {
                "bit-parallel": runs["bit-tactical"]["dense_macs"] / bp,
                "tcle": runs["bit-tactical-tcle"]["dense_macs"]
                / runs["bit-tactical-tcle"]["wall_s"]},
            "scalesim_simulated_dense_macs_per_s": scalesim_macs_per_s()}


def bench_scnn() -> dict[str, Any]:
    bp = case("step-warm", "bit-tactical")
    sc = case("step-warm", "scnn")
    return {"bit-parallel": bp, "scnn": sc,
            "scnn_over_bit_parallel": sc.get("wall_s", float("nan")) / bp["wall_s"],
            "scnn_over_bit_parallel_cpu": sc.get("cpu_s", float("nan")) / bp["cpu_s"],
            "scnn_peak_rss_mb": sc.get("peak_rss_mb"), "target_ratio": 2.5, "target_mb": 400}


COLD_PAIRS = 3
"""Cold / warm pairs of the ``cold`` case (each with an empty cache of its own): the figure is
their median ratio."""


def bench_cold() -> dict[str, Any]:
    """The first call with an empty compile cache (the kernels compiled ahead in two
    processes) / the same call with the cache that left, ``COLD_PAIRS`` pairs; then a cold
    call on one kernel thread (one process compiles everything, as before compiling ahead)."""
    pairs = []
    for _ in range(COLD_PAIRS):
        with tempfile.TemporaryDirectory() as tmp:
            env = {"NUMBA_CACHE_DIR": tmp}
            cold = case("layer", "bit-tactical-tcle", env=env)
            warm = case("layer", "bit-tactical-tcle", env=env)
        pairs.append({"cold": cold, "warm": warm, "ratio": cold["process_s"] / warm["process_s"]})
    with tempfile.TemporaryDirectory() as tmp:
        one = case("layer", "bit-tactical-tcle", threads="1", env={"NUMBA_CACHE_DIR": tmp})
    median = sorted(pairs, key=lambda p: p["ratio"])[len(pairs) // 2]
    return {"hardware": "bit-tactical-tcle", "layer": LAYER, "pairs": pairs,
            "cold": median["cold"], "warm": median["warm"], "cold_one_thread": one,
            "cold_over_warm_first_call": median["ratio"], "target": 3,
            "note": "the median pair's; cold_one_thread: --threads 1, one process compiles "
                    "every kernel (nothing compiled ahead)"}


def bench_memory(batch: int, timeout: float, parallel: bool = False) -> dict[str, Any]:
    """Peak RSS of a whole step per back end, one fresh process each; ``parallel``: the four
    processes at once (each peak is its own process's; the times then share the cores)."""
    names = ("bit-tactical", "bit-tactical-tclp", "bit-tactical-tcle", "scnn")

    def one(name: str) -> dict[str, Any]:
        t0 = time.perf_counter()
        run = {**case("step", name, batch=batch, timeout=timeout),
               "process_s": round(time.perf_counter() - t0, 1)}
        print(f"memory {name}: {json.dumps(run)}", flush=True)
        return run
    if parallel:
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            out = dict(zip(names, pool.map(one, names), strict=True))
    else:
        out = {name: one(name) for name in names}
    return {"batch": batch, "runs": out, "target_mb": 2048, "timeout_s": timeout,
            "parallel": parallel,
            "under_target": all(r.get("done") and r["peak_rss_mb"] < 2048 for r in out.values()),
            "note": "peak_rss_mb: ru_maxrss of the whole process (drawing the calibrated "
                    "layers included; peak_at: the layer and step that set it); process_s: "
                    "the whole case; a run marked partial was stopped after timeout_s, its "
                    "peak covers the layers done" + ("; the four back ends ran at once, so "
                    "their times share the cores" if parallel else "")}


def bench_threads() -> dict[str, Any]:
    tries = []
    for _ in range(2):
        one = case("step-warm", "bit-tactical-tcle", batch=4, threads="1")
        two = case("step-warm", "bit-tactical-tcle", batch=4, threads="2")
        tries.append({"one_thread": one, "two_threads": two,
                      "one_over_two": one["wall_s"] / two["wall_s"]})
        if max(one["loadavg_before"][0], two["loadavg_after"][0]) <= 2:
            break
    quiet = max(tries[-1]["one_thread"]["loadavg_before"][0],
                tries[-1]["two_threads"]["loadavg_after"][0]) <= 2
    return {"hardware": "bit-tactical-tcle", "batch": 4, "tries": tries,
            "one_over_two": tries[-1]["one_over_two"], "target": 1.6, "quiet_machine": quiet,
            "note": "" if quiet else "the machine was shared (load average > 2 on every try): "
                                     "two threads compete with other processes for 2 cores; "
                                     "cpu_s / wall_s of each run shows the share it got"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/speed.json")
    parser.add_argument("--only", default="layer,scnn,cold,memory,threads")
    parser.add_argument("--memory-batch", type=int, default=32)
    parser.add_argument("--memory-timeout", type=float, default=MEMORY_TIMEOUT,
                        help="seconds per back end of the memory case (then partial)")
    parser.add_argument("--memory-parallel", action="store_true",
                        help="run the memory case's four back ends at once (peaks per process)")
    parser.add_argument("--merge", action="store_true",
                        help="keep the other cases of the --out file, replacing those run")
    add_table_option(parser)
    args = parser.parse_args()
    if printed_table(args, render_table):
        return
    wanted = args.only.split(",")
    import numba

    command = " ".join(["python"] + sys.argv)
    result: dict[str, Any] = {"machine": machine(nproc=os.cpu_count(), platform=platform.platform(),
                                                 numba=numba.__version__),
                              "command": command, "loadavg_start": loadavg()}
    if args.merge and Path(args.out).exists():  # the cases not run now keep their run's record
        kept = json.loads(Path(args.out).read_text())
        result = {**kept, **result, "command": f"{kept.get('command', '')}; then {command}"}
    t0 = time.perf_counter()
    steps = {"layer": bench_layer, "scnn": bench_scnn, "cold": bench_cold,
             "memory": lambda: bench_memory(args.memory_batch, args.memory_timeout,
                                           args.memory_parallel), "threads": bench_threads}
    for name in ("layer", "scnn", "cold", "threads", "memory"):  # the long one last
        if name in wanted:
            result[name] = {**steps[name](), "command": command}
            print(name, json.dumps(result[name])[:400], flush=True)
    result["loadavg_end"] = loadavg()
    result["duration_s"] = round(time.perf_counter() - t0, 1)
    write_json_atomic(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
