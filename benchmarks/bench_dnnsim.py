"""accelsim against the DNNsim binary on traces of our own (run on demand, result committed).

    python benchmarks/bench_dnnsim.py --dnnsim /tmp/dnnsim [--out benchmarks/results/dnnsim.json]

``--dnnsim`` is a DNNsim checkout (github isakedo/DNNsim) built with its README's two cmake
commands, so that ``DIR/DNNsim`` and ``DIR/DRAMSim2`` exist (Debian: ``apt-get install
protobuf-compiler libprotobuf-dev``).  What the script does:

1. writes the small traces of :data:`TRACES` to ``tests/data/dnnsim/`` (seeded; float32
   encoding, integer values: activations non-negative or signed, weights signed, several
   weight and activation sparsities; layers 3x3 stride 1, 3x3 stride 2 on an odd input,
   1x1, 5x5 stride 2 with a channel count that is not a multiple of the lanes, a linear
   layer, and first layers with 3 input channels at stride 2, which DNNsim folds);
2. exports each with ``accelsim export-dnnsim`` (PyTorch layout, no transposition) and lays
   it out as DNNsim reads a network: ``models/NET/model.csv`` (``name,conv|fc,stride,
   padding``, from the exported ``trace_params.csv``) and ``net_traces/NET/`` (the exported
   ``.npy`` files);
3. runs DNNsim once per (trace, configuration of :data:`CONFIGS`) in inference mode
   (``model: "CSV"``, ``data_type: "Fixed"``, ``quantised: true``: the integer values are used
   as they are), dataflow ``WindowFirstOutS``, and reads each layer's ``compute_cycles``
   (the cycles of the PE array; DNNsim's ``cycles`` adds its DRAMSim2 memory model, which
   accelsim's ideal memory does not model);
4. simulates the same trace with accelsim: the built-in hardware of the configuration with
   default options (DNNsim's conventions, ``fold_first_layer``, ``idle_padding_rows`` and
   ``linear_columns`` included) except ``[frontend] schedule = "weights"`` (DNNsim's inference scheduler) and
   ``priority = "most-flexible"`` (what DNNsim's ``BitTactical::original_schedule`` does),
   and the configuration's shape and lookahead/lookaside;
5. writes per (trace, configuration, layer) both cycle counts and their ratio, the machine,
   and DNNsim's commit to ``--out``.  ``tests/arrays/test_dnnsim_peer.py`` re-runs step 4 on
   the committed traces and checks accelsim's cycles against the DNNsim cycles stored here.

Grouped layers (``--grouped`` runs only these and adds them to ``--out`` as ``"grouped"``,
keeping the other runs): the traces of :data:`GROUPED_TRACES` (depthwise, 2-group and
4-group convolutions) on :data:`GROUPED_CONFIGS`, accelsim with its default ``[frontend]
group_mapping = "dnnsim"``.  A DNNsim failure (it crashes on some 2-group layers) is recorded
under ``"crashes"`` with accelsim's cycles; each run names the DNNsim bug that can make it
differ (``"dnnsim_differs"``, :func:`known_difference`; "" when it must be equal).  DNNsim runs
with its address space capped at 4 GiB (unbounded it took 19 GiB on one such layer).

DNNsim's current master only takes T<2,5> (``sys/src/Batch.cpp`` refuses any other T) and
lookahead, lookaside >= 1; its convolutions crash on non-square inputs (see the README,
"Fidelity to the peers"), so every input here is square.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_json_atomic  # noqa: E402
from _dnnsim_grouped import (  # noqa: E402
    GROUPED_CONFIGS,
    GROUPED_TRACES,
    conv,
    grouped_layers,
    known_difference,
)

from accelsim.simulate import simulate  # noqa: E402
from accelsim.spec.geometry import LayerGeometry  # noqa: E402
from accelsim.spec.hardware import builtin_hardware  # noqa: E402
from accelsim.trace.schema import TraceMetadata  # noqa: E402
from accelsim.trace.writer import TraceWriter  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TRACE_DIR = ROOT / "tests" / "data" / "dnnsim"

#: name -> (seed, weight sparsity, activation sparsity, activation range, layers, batch);
#: layers: "all" (four convolutions and a linear layer), "first" (two first layers and two
#: convolutions), "conv" (the four convolutions: DNNsim's TCLe carries state from a linear
#: layer into the next sample's first layer, see the README) or "grouped..."
#: (``_dnnsim_grouped.grouped_layers``)
TRACES: dict[str, tuple[int, float, float, tuple[int, int], str, int]] = {
    "w00-a50-u8": (1, 0.0, 0.5, (0, 255), "all", 1),
    "w50-a30-u8": (2, 0.5, 0.3, (0, 255), "all", 1),
    "w80-a60-u12": (3, 0.8, 0.6, (0, 4095), "all", 1),
    "w90-a20-s8": (4, 0.9, 0.2, (-128, 127), "all", 1),
    "w65-a40-u8-first": (5, 0.65, 0.4, (0, 255), "first", 1),
    "w70-a50-s8-batch2": (6, 0.7, 0.5, (-128, 127), "conv", 2),
}
#: name -> (builtin hardware, DNNsim architecture, search shape, lookahead, lookaside); no
#: shape: no weight skipping (DaDianNao; TCLp/TCLe with ``[frontend] kind = "dense"``, DNNsim
#: without ``tactical``)
CONFIGS: dict[str, tuple[str, str, str | None, int, int]] = {
    "dense": ("dadiannao", "DaDianNao", None, 0, 0),
    "tcl-T<2,5>": ("bit-tactical", "DaDianNao", "T", 2, 5),
    "tcl-L<1,2>": ("bit-tactical", "DaDianNao", "L", 1, 2),
    "tcl-L<2,3>": ("bit-tactical", "DaDianNao", "L", 2, 3),
    "tcl-L<3,5>": ("bit-tactical", "DaDianNao", "L", 3, 5),
    "tcl-L<4,8>": ("bit-tactical", "DaDianNao", "L", 4, 8),
    "tclp-dense": ("bit-tactical-tclp", "ShapeShifter", None, 0, 0),
    "tclp-T<2,5>": ("bit-tactical-tclp", "ShapeShifter", "T", 2, 5),
    "tclp-L<2,3>": ("bit-tactical-tclp", "ShapeShifter", "L", 2, 3),
    "tcle-dense": ("bit-tactical-tcle", "BitPragmatic", None, 0, 0),
    "tcle-T<2,5>": ("bit-tactical-tcle", "BitPragmatic", "T", 2, 5),
    "tcle-L<2,3>": ("bit-tactical-tcle", "BitPragmatic", "L", 2, 3),
}

#: recorded traces, committed as they are (not regenerated): name -> how it was made.  Their
#: values are floats, which DNNsim quantises itself (``quantised: false``, its linear rule);
#: compared on the configurations that read no values (dense and T/L bit-parallel)
REAL_TRACES = {
    "digits-swat-u90-step20": "accelsim train --method swat-u --sparsity 0.9 --model "
                              "digits-cnn --data digits --epochs 1 --batch 64 --trace-every 10 "
                              "(the step-20 trace: fixed16, 4 samples)",
}

# DNNsim's example memory system (examples/*/*_example); it only affects DNNsim's ``cycles``,
# not the ``compute_cycles`` compared here.
MEMORY = """\
    cpu_clock_freq: "1GHz"
    dram_conf: "DDR4_3200"
    dram_size: "16GiB"
    dram_start_act_address: 0x80000000
    dram_start_wgt_address: 0x00000000
    gbuffer_act_levels: 1
    gbuffer_wgt_levels: 1
    gbuffer_act_size: "1GiB"
    gbuffer_wgt_size: "1GiB"
    gbuffer_act_banks: 32
    gbuffer_wgt_banks: 256
    gbuffer_act_bank_width: 256
    gbuffer_wgt_bank_width: 256
    gbuffer_act_read_delay: 2
    gbuffer_act_write_delay: 2
    gbuffer_wgt_read_delay: 2
    abuffer_rows: 2
    abuffer_read_delay: 1
    wbuffer_rows: 2
    wbuffer_read_delay: 1
    obuffer_rows: 2
    obuffer_write_delay: 1
    composer_inputs: 256
    composer_delay: 1
    ppu_inputs: 16
    ppu_delay: 1
"""

# DNNsim's example settings of each architecture (examples/*/README.md), the same machine as
# accelsim's built-in hardware of the configuration.
ARCH = {
    "DaDianNao": "lanes: 16 columns: 1 rows: 16 tiles: 16 pe_width: 16",
    "ShapeShifter": ("lanes: 16 columns: 16 rows: 16 tiles: 16 pe_width: 16 group_size: 1 "
                     "column_registers: 0 minor_bit: false"),
    "BitPragmatic": ("lanes: 16 columns: 16 rows: 16 tiles: 16 pe_width: 16 "
                     "bits_first_stage: 2 column_registers: 1 booth_encoding: true"),
}




def layers(kind: str) -> list[LayerGeometry]:
    """The layers of a trace (square inputs: DNNsim crashes on others), see :data:`TRACES`."""
    body = [conv("conv_a", 16, 32, 8, 3, 1, 1), conv("conv_b", 32, 48, 9, 3, 2, 1),
            conv("conv_c", 48, 32, 5, 1, 1, 0), conv("conv_d", 20, 24, 11, 5, 2, 0),
            LayerGeometry(name="fc1", kind="linear", in_channels=96, out_channels=10)]
    if kind.startswith("grouped"):
        return grouped_layers(kind)
    if kind == "first":  # the second one's folded output is one window larger than its own
        return [conv("conv_first", 3, 16, 12, 3, 2, 1), conv("conv_first_odd", 3, 8, 11, 4, 2, 1),
                *body[:2]]
    return body if kind == "all" else body[:4]


def make_trace(path: Path, seed: int, w_sparsity: float, a_sparsity: float,
               a_range: tuple[int, int], kind: str, batch: int) -> None:
    """One seeded float32 trace of integer values, forward pass only."""
    rng = np.random.default_rng(seed)
    meta = TraceMetadata(model="dnnsim-peer", dataset="synthetic", method="dense",
                         mode="inference", batch_indices=tuple(range(batch)))
    with TraceWriter(path, meta, encoding="float32") as writer:
        for g in layers(kind):
            w = rng.integers(-127, 128, g.weight_shape()).astype(np.float32)
            w[rng.random(w.shape) < w_sparsity] = 0.0
            a = rng.integers(a_range[0], a_range[1] + 1, g.activation_shape(batch))
            a = a.astype(np.float32)
            a[rng.random(a.shape) < a_sparsity] = 0.0
            writer.add_layer(g, {"forward": {"weight": w, "activation": a}})


def accelsim_hardware(config: str) -> dict[str, Any]:
    """The accelsim options of a configuration: ``(builtin name, dotted changes)``."""
    builtin, _, shape, h, d = CONFIGS[config]
    changes: dict[str, Any] = {"frontend.schedule": "weights",
                               "frontend.priority": "most-flexible"}
    if shape is not None:
        changes.update({"frontend.shape": shape, "frontend.lookahead": h,
                        "frontend.lookaside": d})
    elif builtin != "dadiannao":  # a bit-serial machine without weight skipping
        changes["frontend.kind"] = "dense"
    return {"builtin": builtin, "changes": changes}


def accelsim_cycles(trace: Path, config: str) -> list[int]:
    """accelsim's forward compute cycles per layer of ``trace`` on ``config``."""
    spec = accelsim_hardware(config)
    hw = builtin_hardware(spec["builtin"]).replace(**spec["changes"])
    report = simulate(trace, hw, passes=("forward",))
    return [lr.passes["forward"].compute_cycles for lr in report.layers]


def _batch_file(net: str, config: str, quantised: bool) -> str:
    _, arch, shape, h, d = CONFIGS[config]
    tactical = "" if shape is None else (f'tactical: true lookahead_h: {h} lookaside_d: {d} '
                                         f'search_shape: "{shape}"')
    return (f'simulate {{\n  network: "{net}"\n  model: "CSV"\n  data_type: "Fixed"\n'
            f'  quantised: {str(quantised).lower()}\n  experiment {{\n    architecture: "{arch}"\n'
            f'    task: "Cycles"\n    dataflow: "WindowFirstOutS"\n    {ARCH[arch]} {tactical}\n'
            f'{MEMORY}  }}\n}}\n')


def _layout(export: Path, work: Path, net: str) -> None:
    """``models/NET/model.csv`` and ``net_traces/NET`` from an export-dnnsim directory."""
    (work / "models" / net).mkdir(parents=True)
    rows = []
    with open(export / "trace_params.csv", newline="") as fh:
        for name, _nn, _kx, _ky, stride, pad in csv.reader(fh):
            kind = "fc" if name.startswith("fc") else "conv"
            rows.append(f"{name},{kind},{stride},{pad}\n")
    (work / "models" / net / "model.csv").write_text("".join(rows))
    (work / "net_traces").mkdir()
    shutil.copytree(export, work / "net_traces" / net)


def _parse(results: Path) -> list[dict[str, Any]]:
    """Per layer of DNNsim's one ``*_cycles.csv`` in ``results``: its per-sample rows summed
    (DNNsim simulates every sample on its own)."""
    (path,) = list(results.glob("*_cycles.csv"))
    lines = path.read_text().splitlines()
    start = lines.index("Per sample scalar results:") + 1
    rows: dict[str, dict[str, Any]] = {}
    for row in csv.DictReader(lines[start:lines.index("", start)]):
        out = rows.setdefault(row["Layer"], {"layer": row["Layer"], "samples": 0, "cycles": 0,
                                             "compute_cycles": 0})
        out["samples"] += 1
        out["cycles"] += int(row["cycles"])
        out["compute_cycles"] += int(row["compute_cycles"])
    return list(rows.values())


def _memory_limit() -> None:
    """DNNsim's address space capped at 4 GiB: on some grouped layers it reads past a
    vector's end and asks for tens of GiB (README, "DNNsim bugs", item 11)."""
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


def dnnsim_cycles(dnnsim: Path, export: Path, config: str,
                  quantised: bool = True) -> list[dict[str, Any]]:
    """DNNsim's per-layer rows for one exported trace on one configuration (``quantised``:
    the values are integers used as they are, else DNNsim quantises them linearly)."""
    with tempfile.TemporaryDirectory(prefix="dnnsim-") as tmp:
        work, net = Path(tmp), "peer"
        (work / "DRAMSim2").symlink_to(dnnsim / "DRAMSim2")
        _layout(export, work, net)
        (work / "batch.prototxt").write_text(_batch_file(net, config, quantised))
        proc = subprocess.run([str(dnnsim / "DNNsim"), "batch.prototxt", "--quiet"], cwd=work,
                              capture_output=True, text=True, timeout=600,
                              preexec_fn=_memory_limit)
        results = work / "results" / net
        if proc.returncode != 0 or not results.is_dir():
            raise RuntimeError(f"DNNsim failed on {export.name} {config} "
                               f"(status {proc.returncode}): {proc.stderr[-2000:]}")
        return _parse(results)


def compare(dnnsim: Path, trace: Path, tmp: Path, quantised: bool,
            configs: tuple[str, ...] = tuple(CONFIGS),
            crashes: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Export ``trace`` under ``tmp`` and compare DNNsim and accelsim on ``configs`` (on a
    float trace, ``quantised = False``, only those that do not read values: DNNsim's own
    linear quantisation overflows and its TCLe hangs, see the README); -> one run per
    (configuration, layer).  With ``crashes`` a DNNsim failure is appended there (trace,
    configuration, accelsim's cycles, DNNsim's last error line) instead of raised."""
    exported = tmp / trace.stem
    export(trace, exported)
    runs = []
    for config in configs:
        if not quantised and CONFIGS[config][0].startswith("bit-tactical-tcl"):
            continue
        ours = accelsim_cycles(trace, config)
        try:
            peer = dnnsim_cycles(dnnsim, exported, config, quantised)
        except RuntimeError as exc:
            if crashes is None:
                raise
            error = [ln for ln in str(exc).splitlines() if "error" in ln.lower()]
            crashes.append({"trace": trace.name, "config": config, "accelsim_cycles": ours,
                            "dnnsim_error": (error or [str(exc)])[-1].strip()})
            print(f"{trace.stem:22s} {config:12s} DNNsim failed: {crashes[-1]['dnnsim_error']}")
            continue
        for row, cycles in zip(peer, ours, strict=True):
            runs.append({"trace": trace.name, "config": config, "layer": row["layer"],
                         "samples": row["samples"], "dnnsim_quantised": quantised,
                         "dnnsim_compute_cycles": row["compute_cycles"],
                         "dnnsim_cycles_with_memory": row["cycles"],
                         "accelsim_cycles": cycles,
                         "ratio": round(cycles / row["compute_cycles"], 6)})
        equal = sum(r["accelsim_cycles"] == r["dnnsim_compute_cycles"] for r in runs[-len(ours):])
        print(f"{trace.stem:22s} {config:12s} {equal}/{len(ours)} layers equal", flush=True)
    return runs


def export(trace: Path, out: Path) -> None:
    """``accelsim export-dnnsim TRACE --out OUT`` in a subprocess (the CLI as users run it)."""
    subprocess.run([sys.executable, "-m", "accelsim", "export-dnnsim", str(trace), "--out",
                    str(out)], check=True)


def _grouped(dnnsim: Path, tmp: Path, commit: str) -> dict[str, Any]:
    """The grouped traces on :data:`GROUPED_CONFIGS`: runs, DNNsim's crashes, counts."""
    runs: list[dict[str, Any]] = []
    crashes: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for name, params in GROUPED_TRACES.items():
        make_trace(TRACE_DIR / f"{name}.trace", *params)
        runs += compare(dnnsim, TRACE_DIR / f"{name}.trace", tmp, True, GROUPED_CONFIGS,
                        crashes)
    for run in runs:
        run["dnnsim_differs"] = known_difference(run["layer"], run["config"])
    equal = sum(r["accelsim_cycles"] == r["dnnsim_compute_cycles"] for r in runs)
    print(f"grouped: {equal}/{len(runs)} runs equal, {len(crashes)} DNNsim failures")
    return {"machine": machine(dnnsim_commit=commit, seconds=round(time.perf_counter() - t0, 1)),
            "configs": list(GROUPED_CONFIGS),
            "summary": {"runs": len(runs), "equal": equal, "dnnsim_failures": len(crashes)},
            "runs": runs, "crashes": crashes}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dnnsim", type=Path, required=True, help="built DNNsim checkout")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/dnnsim.json")
    ap.add_argument("--grouped", action="store_true",
                    help="run only the grouped traces and put their results into --out, "
                         "keeping the others")
    args = ap.parse_args()
    dnnsim = args.dnnsim.resolve()
    commit = subprocess.run(["git", "-C", str(dnnsim), "rev-parse", "HEAD"], check=True,
                            capture_output=True, text=True).stdout.strip()
    TRACE_DIR.mkdir(parents=True, exist_ok=True)
    if args.grouped:
        result = json.loads(args.out.read_text())
        with tempfile.TemporaryDirectory(prefix="dnnsim-export-") as tmp:
            result["grouped"] = _grouped(dnnsim, Path(tmp), commit)
        write_json_atomic(args.out, result)
        return
    runs: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dnnsim-export-") as tmp:
        for name, params in TRACES.items():
            make_trace(TRACE_DIR / f"{name}.trace", *params)
            runs += compare(dnnsim, TRACE_DIR / f"{name}.trace", Path(tmp), quantised=True)
        for name in REAL_TRACES:
            if (TRACE_DIR / f"{name}.trace").is_file():
                runs += compare(dnnsim, TRACE_DIR / f"{name}.trace", Path(tmp), quantised=False)
        grouped = _grouped(dnnsim, Path(tmp), commit)
    equal = sum(r["accelsim_cycles"] == r["dnnsim_compute_cycles"] for r in runs)
    write_json_atomic(args.out, {
        "machine": machine(dnnsim_commit=commit, seconds=round(time.perf_counter() - t0, 1)),
        "dnnsim": {"repository": "github.com/isakedo/DNNsim", "commit": commit,
                   "settings": {"model": "CSV", "data_type": "Fixed",
                                "quantised": "per run (dnnsim_quantised)",
                                "dataflow": "WindowFirstOutS", "architectures": ARCH,
                                "compared": "compute_cycles"}},
        "real_traces": REAL_TRACES,
        "configs": {c: accelsim_hardware(c) for c in CONFIGS},
        "summary": {"runs": len(runs), "equal": equal},
        "runs": runs, "grouped": grouped})
    print(f"{equal}/{len(runs)} runs equal -> {args.out}")


if __name__ == "__main__":
    main()
