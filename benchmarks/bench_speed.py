"""Speed of the bit-serial and SCNN paths against the bit-parallel one, thread scaling, the
first call with an empty compile cache, and peak memory (run on demand, results committed).

    .venv/bin/python benchmarks/bench_speed.py [--out benchmarks/results/speed.json]
        [--only layer,scnn,cold,memory,threads] [--memory-batch 32]

Every figure is a ratio of two times measured in this run (issue 18), and every case that
needs a clean process (peak RSS, the cold cache) runs in a subprocess of its own:

* ``layer``: TCLe (and TCLp) time / bit-parallel time on ResNet-50's 3x3 64->64 conv at 56x56
  (``layer1.0.conv2``), batch 1, all three passes, best of 3 warm calls; and the simulated
  dense MACs per second of bit-parallel and TCLe next to SCALE-Sim's
  (``benchmarks/results/scalesim.json``);
* ``scnn``: SCNN / bit-parallel on a synthetic ResNet-50 SWAT-U 90% training step at batch 1,
  with each one's peak RSS;
* ``cold``: first call of a fresh process with an empty ``NUMBA_CACHE_DIR`` / the same with
  the cache filled (TCLe on the layer above, the time to the first result);
* ``memory``: peak RSS of a ResNet-50 training step at batch ``--memory-batch`` per back end;
* ``threads`` (last, repeated while the load average is above 2, at most 3 times): 1 thread /
  2 threads on a ResNet-50 TCLe step at batch 4.
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
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import loadavg, machine, write_json_atomic  # noqa: E402

HERE = Path(__file__).resolve().parent
LAYER = "layer1.0.conv2"

# one case in a fresh process: argv = what, hardware, batch, threads, layer;
# prints one JSON line {"wall_s", "first_s", "peak_rss_mb", "dense_macs"}
CASE = """\
import json, resource, sys, time
t_start = time.perf_counter()
from accelsim.api import simulate_synthetic
from accelsim.simulate import kernel_threads, simulate_operands
from accelsim.spec.hardware import builtin_hardware
from accelsim.trace.synthetic import SyntheticSpec, generate_layers
what, name, batch, threads, layer = sys.argv[1], sys.argv[2], int(sys.argv[3]), \\
    (None if sys.argv[4] == "all" else int(sys.argv[4])), sys.argv[5]
hw = builtin_hardware(name)
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
    for _ in range(int(sys.argv[6]) if len(sys.argv) > 6 else 0):
        t0 = time.perf_counter()
        with kernel_threads(threads):
            simulate_operands(g, ops, hw)
        best.append(time.perf_counter() - t0)
    out["wall_s"] = min(best) if best else out["first_s"]
    out["dense_macs"] = g.macs_per_sample * batch * len(r.passes)
else:
    if what == "step-warm":
        simulate_synthetic("resnet50", hw, batch=1, threads=threads)
    t0 = time.perf_counter()
    r = simulate_synthetic("resnet50", hw, batch=batch, threads=threads)
    out["wall_s"] = time.perf_counter() - t0
    out["training_step_cycles"] = r.totals()["training_step"].compute_cycles
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def case(what: str, hw: str, batch: int = 1, threads: str = "all", repeats: int = 0,
         env: dict[str, str] | None = None, timeout: float = 3600) -> dict[str, Any]:
    """One case in a fresh process (see ``CASE``), with the load average around it."""
    before = loadavg()
    proc = subprocess.run([sys.executable, "-c", CASE, what, hw, str(batch), threads, LAYER,
                           str(repeats)], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1:], "loadavg_before": before}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
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
            "scnn_peak_rss_mb": sc.get("peak_rss_mb"), "target_ratio": 2.5, "target_mb": 400}


def bench_cold() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {"NUMBA_CACHE_DIR": tmp}
        cold = case("layer", "bit-tactical-tcle", env=env)
        warm = case("layer", "bit-tactical-tcle", env=env)
    return {"hardware": "bit-tactical-tcle", "layer": LAYER, "cold": cold, "warm": warm,
            "cold_over_warm_first_call": cold["process_s"] / warm["process_s"],
            "target": 3}


def bench_memory(batch: int) -> dict[str, Any]:
    out = {name: case("step", name, batch=batch) for name in
           ("bit-tactical", "bit-tactical-tclp", "bit-tactical-tcle", "scnn")}
    return {"batch": batch, "runs": out, "target_mb": 2048}


def bench_threads() -> dict[str, Any]:
    tries = []
    for _ in range(3):
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
                                     "two threads compete with other processes for 2 cores"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/speed.json")
    parser.add_argument("--only", default="layer,scnn,cold,memory,threads")
    parser.add_argument("--memory-batch", type=int, default=32)
    args = parser.parse_args()
    wanted = args.only.split(",")
    import numba

    result: dict[str, Any] = {"machine": machine(nproc=os.cpu_count(), platform=platform.platform(),
                                                 numba=numba.__version__),
                              "command": " ".join(["python"] + sys.argv),
                              "loadavg_start": loadavg()}
    t0 = time.perf_counter()
    steps = {"layer": bench_layer, "scnn": bench_scnn, "cold": bench_cold,
             "memory": lambda: bench_memory(args.memory_batch), "threads": bench_threads}
    for name in ("layer", "scnn", "cold", "memory", "threads"):  # threads last
        if name in wanted:
            result[name] = steps[name]()
            print(name, json.dumps(result[name])[:400], flush=True)
    result["loadavg_end"] = loadavg()
    result["duration_s"] = round(time.perf_counter() - t0, 1)
    write_json_atomic(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
