"""Side-by-side speed against SCALE-Sim v3 (run on demand, not a test; result committed).

    .venv/bin/python benchmarks/bench_scalesim.py --scalesim-python /tmp/scalesim-venv/bin/python \
        [--scalesim-mode cli|no-trace|both] [--layers N] [--out benchmarks/results/scalesim.json]

SCALE-Sim lives in a venv of its own (it needs numpy<2.4)::

    python3 -m venv /tmp/scalesim-venv && /tmp/scalesim-venv/bin/pip install scalesim "numpy<2.4"

What is measured, each tool in a subprocess of its own (wall time around the process,
peak RSS and CPU seconds from ``os.wait4``; the load average is recorded because the
machine is shared):

1. SCALE-Sim v3: one ResNet-50/ImageNet inference pass (batch 1) on a 32x32
   output-stationary systolic array, the configuration of SCALE-Sim's shipped
   ``configs/scale.cfg`` (64 kB SRAMs per operand, CALC bandwidth, 512-entry request
   buffers).  The pip package ships no topology, so it is written from our own layer table
   (``accelsim.networks.catalog.layer_table("resnet50", "imagenet")``, torchvision ResNet-50 v1.5).
   SCALE-Sim has no padding field: each layer's IFMAP is given as the part of the padded
   input that the outputs read, ``(out - 1) * stride + kernel``, so that SCALE-Sim's output
   size and MAC count equal ours exactly (checked).  ``cli`` runs the documented command
   ``python -m scalesim.scale -c CFG -t TOPO -l LAYOUT -p DIR``, which always writes the
   cycle-level SRAM/DRAM trace CSVs; ``no-trace`` drives the same run through the Python
   API with ``save_disk_space=True`` (simulation only, no trace files).  Cycles are the sums
   of COMPUTE_REPORT.csv's "Total Cycles" (compute + stalls) and "Total Cycles (incl.
   prefetch)" columns.
2. accelsim (a): the same ResNet-50 forward pass, dense, on the DaDianNao-like baseline
   (``accelsim.load_hardware("dadiannao")``: 16 tiles x 16 filters x 16 lanes, dense front
   end, bit-parallel).
3. accelsim (b): a synthetic SWAT-U 90% ResNet-50/ImageNet trace at batch 1, all three
   passes (a whole training step), T<2,5>, bit-parallel: the speed case of
   ``bench_simulator.py`` and of the issue's target (under 30 s, under 4 GB).

For accelsim the simulate call is timed twice in its process: ``cold_s`` (first call,
numba kernels loaded from the on-disk cache or compiled) and ``wall_s`` (second call, as
in ``simulator.json``); both include generating the synthetic operands.  Simulated MACs
per second are dense MACs over wall seconds: the forward pass for SCALE-Sim and (a), and
the dense MACs of every simulated pass for (b) (forward + backward-weight for every layer,
backward-input for all but the first).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from itertools import islice
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    SCALESIM_API_DRIVER,
    SCALESIM_ARRAY,
    loadavg,
    machine,
    scalesim_config,
    scalesim_rows,
    write_json_atomic,
    write_scalesim_inputs,
)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "benchmarks" / "results" / "scalesim.json"
MAKE_VENV = ('python3 -m venv /tmp/scalesim-venv && '
             '/tmp/scalesim-venv/bin/pip install scalesim "numpy<2.4"')
ARRAY = SCALESIM_ARRAY  # SCALE-Sim array height and width (its shipped configs/scale.cfg)
RUN_NAME = f"resnet50_{ARRAY}x{ARRAY}_os"
SCALESIM_CFG = scalesim_config(RUN_NAME)  # recorded in the result

PROBE = """\
import json, platform
from importlib.metadata import version
print(json.dumps({"python": platform.python_version(), "scalesim": version("scalesim"),
                  "numpy": version("numpy"), "numba": version("numba"),
                  "pandas": version("pandas")}))
"""


# ---- helpers -----------------------------------------------------------------------------
def die(message: str) -> None:
    """Print one line to stderr and exit with status 2."""
    print(f"bench_scalesim: error: {message}", file=sys.stderr)
    sys.exit(2)


def machine_info() -> dict[str, Any]:
    """The machine (``_common.machine``) plus RAM, OS, numba and the accelsim commit."""
    from importlib.metadata import version

    ram_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gib = round(int(line.split()[1]) / 2**20, 1)
                break
    except OSError:
        pass
    try:  # read-only git queries: the commit and the simulator files modified on top of it
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                                text=True, check=True).stdout.strip()
        modified = subprocess.run(["git", "status", "--porcelain", "--", "accelsim",
                                   "workloads"], cwd=REPO, capture_output=True, text=True,
                                  check=True).stdout.split("\n")
        modified = [line[3:] for line in modified if line.strip()]
    except (OSError, subprocess.CalledProcessError):
        commit, modified = None, None
    return machine(ram_gib=ram_gib, os=platform.platform(), numba=version("numba"),
                   accelsim_commit=commit, accelsim_modified_files=modified)


def run_timed(argv: Sequence[str], log: Path, cwd: Path | None = None) -> dict[str, Any]:
    """Run ``argv`` with stdout+stderr to ``log``; wall seconds, peak RSS and CPU seconds
    of that one child (``os.wait4``), and the load average before and after."""
    before = loadavg()
    with open(log, "wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"returncode": proc.returncode, "process_wall_s": round(wall, 3),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
            "loadavg_before": before, "loadavg_after": loadavg()}


def tail(path: Path, lines: int = 5) -> str:
    return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])


def dir_mb(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20, 1)


# ---- workload ----------------------------------------------------------------------------
def resnet50_layers(count: int | None) -> tuple[Any, ...]:
    from accelsim.networks.catalog import layer_table

    return tuple(layer_table("resnet50", "imagenet")[:count])


def scalesim_macs(rows: Sequence[Sequence[Any]]) -> int:
    """MACs as SCALE-Sim's topology_utils computes them (ceil output size)."""
    total = 0
    for _, ih, iw, kh, kw, c, m, s in rows:
        oh, ow = -(-(ih - kh + s) // s), -(-(iw - kw + s) // s)
        total += oh * ow * kh * kw * c * m
    return total


def dense_pass_macs(layers: Sequence[Any], passes: Sequence[str]) -> int:
    """Dense MACs of the simulated passes (the first layer has no backward-input)."""
    total = 0
    for index, g in enumerate(layers):
        for p in passes:
            if p == "backward_input" and index == 0:
                continue
            total += g.macs_per_sample
    return total


# ---- SCALE-Sim ---------------------------------------------------------------------------
def probe_scalesim(python: str | None) -> dict[str, Any]:
    if not python:
        die(f"--scalesim-python PATH is required (the python of a SCALE-Sim venv); create one "
            f"with: {MAKE_VENV}")
    if not Path(python).exists():
        die(f"SCALE-Sim python {python} does not exist; create it with: {MAKE_VENV}")
    probe = subprocess.run([python, "-c", PROBE], capture_output=True, text=True)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        die(f"{python} cannot import scalesim ({last}); create its venv with: {MAKE_VENV}")
    return json.loads(probe.stdout)


def read_compute_report(run_dir: Path) -> dict[str, Any]:
    reports = list(run_dir.rglob("COMPUTE_REPORT.csv"))
    if len(reports) != 1:
        raise RuntimeError(f"expected one COMPUTE_REPORT.csv under {run_dir}, found {len(reports)}")
    with open(reports[0], newline="") as f:
        rows = [r for r in csv.reader(f, skipinitialspace=True)][1:]
    rows = [r for r in rows if r and r[0].strip()]
    return {"layers": len(rows),
            "total_cycles_incl_prefetch": sum(int(float(r[1])) for r in rows),
            "total_cycles": sum(int(float(r[2])) for r in rows),
            "stall_cycles": sum(int(float(r[3])) for r in rows)}


def run_scalesim(python: str, mode: str, rows: Sequence[Sequence[Any]], work: Path,
                 macs: int) -> dict[str, Any]:
    """One SCALE-Sim run in ``mode`` ("cli" or "no-trace") inside ``work``."""
    cfg, topo, layout = write_scalesim_inputs(work, rows, RUN_NAME, topology="resnet50.csv")
    out = work / f"out-{mode}"
    if mode == "cli":
        argv = [python, "-m", "scalesim.scale", "-c", str(cfg), "-t", str(topo), "-l",
                str(layout), "-p", str(out)]
    else:
        argv = [python, "-c", SCALESIM_API_DRIVER, str(cfg), str(topo), str(layout), str(out)]
    log = work / f"scalesim-{mode}.log"
    print(f"[scalesim {mode}] running {len(rows)} layers ...", flush=True)
    result = run_timed(argv, log, cwd=work)
    if result["returncode"] != 0 or not out.exists():
        raise RuntimeError(f"SCALE-Sim ({mode}) failed with status {result['returncode']}: "
                           f"{tail(log)}")
    cycles = read_compute_report(out)
    if cycles["layers"] != len(rows):
        raise RuntimeError(f"SCALE-Sim reported {cycles['layers']} layers, expected {len(rows)}")
    result.update(cycles)
    result["command"] = (f"python -m scalesim.scale -c scale.cfg -t resnet50.csv "
                         f"-l layout.csv -p out-{mode}") if mode == "cli" else \
        "python -c '<scalesim(save_disk_space=True, verbose=False).run_scale()>'"
    result["trace_files_mb"] = dir_mb(out)
    result["simulated_dense_macs"] = macs
    result["simulated_dense_macs_per_s"] = macs / result["process_wall_s"]
    print(f"[scalesim {mode}] {result['process_wall_s']:.1f} s, "
          f"{result['peak_rss_mb']:.0f} MB, {result['total_cycles']} cycles", flush=True)
    return result


# ---- accelsim (worker subprocess) ----------------------------------------------------------
def simulate_case(case: str, count: int | None) -> dict[str, Any]:
    """Simulate ``case`` ("dense-forward" or "swat90-step") on the first ``count`` layers
    (all when None): synthetic operands generated and simulated one layer at a time."""
    from accelsim import load_hardware
    from accelsim.simulate import simulate_operands
    from accelsim.trace import PASSES
    from accelsim.trace.synthetic import SyntheticSpec, generate_layers

    if case == "dense-forward":
        hw = load_hardware("dadiannao")
        spec = SyntheticSpec.for_method("resnet50", "dense", 0.0, dataset="imagenet", batch=1)
        passes: tuple[str, ...] = ("forward",)
    else:
        hw = load_hardware("bit-tactical")
        spec = SyntheticSpec.for_method("resnet50", "swat-u", 0.9, dataset="imagenet", batch=1)
        passes = tuple(PASSES)
    t0 = time.perf_counter()
    reports = [simulate_operands(g, ops, hw, passes)
               for g, ops in islice(generate_layers(spec), count)]
    wall = time.perf_counter() - t0
    totals: dict[str, Any] = {}  # pass -> CycleBreakdown (passes with no layer are left out)
    for r in reports:
        for p, b in r.passes.items():
            totals[p] = totals[p] + b if p in totals else b
    step = None
    for b in totals.values():
        step = b if step is None else step + b
    assert step is not None
    return {"wall_s": wall, "hardware": hw.name, "passes": list(passes),
            "layers": len(reports), "base_cycles": step.base_cycles,
            "compute_cycles": step.compute_cycles, "speedup": step.speedup,
            "per_pass_speedup": {p: b.speedup for p, b in totals.items()}}


def worker(case: str, count: int | None) -> None:
    """Child process: a cold and a warm call, one JSON line on stdout."""
    cold = simulate_case(case, count)
    warm = simulate_case(case, count)
    warm["cold_s"] = cold["wall_s"]
    print(json.dumps(warm))


def run_ours(case: str, count: int | None, work: Path, macs: int) -> dict[str, Any]:
    argv = [sys.executable, str(Path(__file__).resolve()), "--worker", case]
    if count is not None:
        argv += ["--layers", str(count)]
    log = work / f"accelsim-{case}.log"
    print(f"[accelsim {case}] running ...", flush=True)
    result = run_timed(argv, log, cwd=REPO)
    if result["returncode"] != 0:
        raise RuntimeError(f"accelsim worker {case} failed: {tail(log)}")
    result.update(json.loads(log.read_text().strip().splitlines()[-1]))
    result["simulated_dense_macs"] = macs
    result["simulated_dense_macs_per_s"] = macs / result["wall_s"]
    print(f"[accelsim {case}] warm {result['wall_s']:.2f} s, cold {result['cold_s']:.2f} s, "
          f"process {result['process_wall_s']:.1f} s, {result['peak_rss_mb']:.0f} MB", flush=True)
    return result


# ---- main --------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scalesim-python", metavar="PATH",
                        help="python of the SCALE-Sim venv (e.g. /tmp/scalesim-venv/bin/python)")
    parser.add_argument("--scalesim-mode", choices=("cli", "no-trace", "both"), default="cli",
                        help="cli: python -m scalesim.scale (writes trace CSVs, default); "
                             "no-trace: Python API with save_disk_space=True; both")
    parser.add_argument("--layers", type=int, metavar="N",
                        help="only the first N layers of ResNet-50 (quick check)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--worker", choices=("dense-forward", "swat90-step"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.layers is not None and args.layers < 1:
        die(f"--layers {args.layers} must be >= 1")
    if args.worker:
        worker(args.worker, args.layers)
        return

    scalesim_env = probe_scalesim(args.scalesim_python)
    started = dt.datetime.now(dt.UTC)
    load_start = loadavg()
    layers = resnet50_layers(args.layers)
    rows = scalesim_rows(layers)
    forward_macs = dense_pass_macs(layers, ("forward",))
    if scalesim_macs(rows) != forward_macs:
        raise RuntimeError(f"SCALE-Sim topology MACs {scalesim_macs(rows)} != ours {forward_macs}")
    from accelsim.trace import PASSES

    step_macs = dense_pass_macs(layers, PASSES)
    modes = ("cli", "no-trace") if args.scalesim_mode == "both" else (args.scalesim_mode,)

    with tempfile.TemporaryDirectory(prefix="bench-scalesim-") as tmp:
        work = Path(tmp)
        ours = {"dense_forward_dadiannao": run_ours("dense-forward", args.layers, work,
                                                    forward_macs),
                "swat_u90_training_step_T25": run_ours("swat90-step", args.layers, work,
                                                       step_macs)}
        scalesim: dict[str, Any] = {}
        for mode in modes:
            mode_dir = work / mode
            mode_dir.mkdir()
            scalesim[mode] = run_scalesim(args.scalesim_python, mode, rows, mode_dir,
                                          forward_macs)

    finished = dt.datetime.now(dt.UTC)
    swat = ours["swat_u90_training_step_T25"]
    dense = ours["dense_forward_dadiannao"]
    comparison = {}
    for mode, r in scalesim.items():
        comparison[f"scalesim_{mode}_s_over_ours_dense_forward_s"] = \
            r["process_wall_s"] / dense["wall_s"]
        comparison[f"scalesim_{mode}_s_over_ours_swat_step_s"] = \
            r["process_wall_s"] / swat["wall_s"]
        comparison[f"ours_swat_step_macs_per_s_over_scalesim_{mode}"] = \
            swat["simulated_dense_macs_per_s"] / r["simulated_dense_macs_per_s"]
    full = args.layers is None
    result = {
        "benchmark": "accelsim vs SCALE-Sim v3 speed (benchmarks/bench_scalesim.py)",
        "command": " ".join(["python", "benchmarks/bench_scalesim.py",
                             *(sys.argv[1:] if argv is None else argv)]),
        "date_utc": started.isoformat(timespec="seconds"),
        "duration_s": round((finished - started).total_seconds(), 1),
        "loadavg_start": load_start, "loadavg_end": loadavg(),
        "machine": machine_info(), "scalesim_env": scalesim_env,
        "workload": {
            "model": "resnet50", "dataset": "imagenet", "batch": 1,
            "layers": len(layers), "full_network": full,
            "forward_dense_macs": forward_macs, "training_step_dense_macs": step_macs,
            "interpretation": (
                "'ResNet-50 inference pass at 32x32' = one forward pass of ResNet-50 "
                "(batch 1, 224x224) on SCALE-Sim's shipped 32x32 output-stationary config; "
                "the scalesim pip package ships no topologies, so the topology is written from "
                "our layer table (torchvision ResNet-50 v1.5, 53 convs + fc) with IFMAP = "
                "(out-1)*stride+kernel, giving exactly our output sizes and MACs. SCALE-Sim's "
                "repository topology Resnet50.csv differs: unpadded IFMAPs (3x3 convs lose "
                "their border outputs, conv1 gives 109x109 instead of 112x112) and the stride "
                "on the first 1x1 conv of each downsampling block (v1); same 54 layers."),
        },
        "scalesim_config": SCALESIM_CFG,
        "scalesim": scalesim,
        "accelsim": ours,
        "comparison": comparison,
        "targets": {"swat_step_under_30_s": swat["wall_s"] < 30 if full else None,
                    "swat_step_peak_rss_under_4_gb": swat["peak_rss_mb"] < 4096 if full
                    else None},
    }
    write_json_atomic(args.out, result)
    print(json.dumps({"scalesim": {m: {k: r[k] for k in ("process_wall_s", "peak_rss_mb",
                                                        "total_cycles",
                                                        "simulated_dense_macs_per_s")}
                                   for m, r in scalesim.items()},
                      "accelsim": {c: {k: r[k] for k in ("wall_s", "cold_s", "process_wall_s",
                                                         "peak_rss_mb", "compute_cycles",
                                                         "simulated_dense_macs_per_s")}
                                   for c, r in ours.items()},
                      "comparison": comparison}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
