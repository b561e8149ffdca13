"""SWAT Table 6, explained: which machine model gives SWAT-U ResNet-50/ImageNet's 3.3x/3.4x
(80%) and 5.6x/6.3x (90%) forward/backward speedups (run on demand, results committed).

    nice -n 10 .venv/bin/python benchmarks/bench_table6.py [--out benchmarks/results/table6.json]
        [--budget-s 900] [--layer-stride K] [--runs runs/calibration]
    .venv/bin/python benchmarks/bench_table6.py --table   # the README table from the JSON

The paper's simulator (SWAT section 4.4) is Bit-Tactical's inference simulator: it ran the
forward pass only and estimated the backward passes by rotating them into forward
convolutions -- backward-input convolves the output gradient with the rotated weights (the
weights are the kernel), backward-weight convolves the input activation with the rotated
output gradient (the gradient is the kernel).  Bit-Tactical's front end schedules the kernel
operand, so that is ``[frontend] schedule = "weights"`` here (DNNsim's inference
scheduler), and the activation -- the input in forward and backward-weight, the output
gradient in backward-input -- is the bit-serial operand.

Models, each on the same traces:

* ``bit-parallel``: T<2,5> (the paper's front end), T<4,6> and T<8,7> (deeper lookahead),
  each with the kernel scheduled (``weights``, the paper's rotation) and with the sparser
  operand scheduled (``sparser``, DNNsim's training scheduler);
* ``tclp`` / ``tcle``: T<2,5> with 16 bit-serial columns, both schedules, quantisation
  ``per-tensor`` (``auto`` is the same on these float traces; ``integer`` does not apply:
  the values are not integers) and ``per-layer-profile`` (derived: 8 fraction bits);
* bounds: the scheduled operand's non-zeros over the lanes (Bit-Tactical's ``ideal_cycles``
  of the T<2,5> bit-parallel runs: each window set as slow as its densest lane group, no
  lookahead limit), SWAT appendix A.3's FLOP accounting (perfect balance), and the ``ideal``
  array (effectual MACs, both operands non-zero, over 4096 multipliers).

Speedups are each machine's dense base cycles over its compute cycles (for the 16-column
bit-serial machines the base equals DaDianNao's bit-parallel cycles), forward and backward
(backward-input + backward-weight).  Traces: synthetic SWAT-U ResNet-50/ImageNet at batch 1
(the calibrated generator, shipped profiles: ResNet-20's, mapped by relative depth; seed 0),
and, at small scale, the real ResNet-20 digits runs of ``bench_calibration.py`` at 90%
(the last trace of seeds 1 and 2, 16 samples each).  The run first times one TCLe pass
and keeps every ``--layer-stride``-th layer if the whole network would not fit
``--budget-s`` (then each pass's speedup is over the kept layers, which weights them by
their cycles as the whole network would).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import add_table_option, machine, printed_table, write_json_atomic  # noqa: E402

from accelsim.api import flops_of_spec  # noqa: E402
from accelsim.rundir import trace_files, trace_step  # noqa: E402
from accelsim.simulate import read_operands, simulate_operands  # noqa: E402
from accelsim.spec.hardware import builtin_hardware  # noqa: E402
from accelsim.trace import open_trace  # noqa: E402
from accelsim.trace.synthetic import SyntheticSpec, generate_layers  # noqa: E402

PAPER = {0.8: {"forward": 3.3, "backward": 3.4}, 0.9: {"forward": 5.6, "backward": 6.3}}
PASSES = ("forward", "backward_input", "backward_weight")


def machines() -> dict[str, Any]:
    """Every model of the table, by name."""
    bp, tclp, tcle = (builtin_hardware(n) for n in
                      ("bit-tactical", "bit-tactical-tclp", "bit-tactical-tcle"))
    out: dict[str, Any] = {}
    for schedule in ("weights", "sparser"):
        for h, d in ((2, 5), (4, 6), (8, 7)):
            out[f"bit-parallel T<{h},{d}> {schedule}"] = bp.replace(**{
                "frontend.lookahead": h, "frontend.lookaside": d,
                "frontend.schedule": schedule})
        for name, hw in (("tclp", tclp), ("tcle", tcle)):
            for rule in ("per-tensor", "per-layer-profile"):
                out[f"{name} T<2,5> {schedule} {rule}"] = hw.replace(**{
                    "frontend.schedule": schedule, "backend.quantisation": rule})
    out["ideal array"] = builtin_hardware("ideal")
    return out


def speedups(layers: list, hw: Any) -> dict[str, Any]:
    """Forward and backward speedups (base / compute), and the scheduled operand's bound
    (base / ideal cycles), over ``layers`` = [(geometry, operands)]."""
    base = dict.fromkeys(PASSES, 0)
    compute = dict.fromkeys(PASSES, 0)
    ideal = dict.fromkeys(PASSES, 0)
    for g, ops in layers:
        for p, b in simulate_operands(g, ops, hw).passes.items():
            base[p] += b.base_cycles
            compute[p] += b.compute_cycles
            ideal[p] += b.ideal_cycles
    bwd = ("backward_input", "backward_weight")
    out = {"forward": base["forward"] / compute["forward"],
           "backward": sum(base[p] for p in bwd) / sum(compute[p] for p in bwd),
           "bound_forward": base["forward"] / max(ideal["forward"], 1),
           "bound_backward": sum(base[p] for p in bwd) / max(sum(ideal[p] for p in bwd), 1),
           "cycles": {p: [base[p], compute[p]] for p in PASSES}}
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()}


def synthetic_layers(sparsity: float, stride: int) -> list:
    spec = SyntheticSpec.for_method("resnet50", "swat-u", sparsity, dataset="imagenet",
                                    batch=1, seed=0)
    return [(g, ops) for i, (g, ops) in enumerate(generate_layers(spec)) if i % stride == 0]


def real_layers(runs: Path) -> list:
    out = []
    for seed in (1, 2):
        last = [p for p in trace_files(runs / f"resnet20-s{seed}") if trace_step(p)][-1]
        with open_trace(last) as t:
            out += [(layer.geometry, read_operands(layer, layer.passes, True))
                    for layer in t.iter_layers()]
    return out


def add_bounds(table: dict[str, Any], sparsity: float) -> None:
    """The bounds as rows of their own: the scheduled operand's non-zeros over the lanes
    (each window set as slow as its densest lane group, no lookahead limit), from the
    T<2,5> bit-parallel runs; and SWAT appendix A.3's FLOP accounting (every pass perfectly
    balanced over the effectual MACs of its sparse operand)."""
    for schedule in ("weights", "sparser"):
        row = table[f"bit-parallel T<2,5> {schedule}"]
        table[f"bound: scheduled non-zeros / lanes, {schedule}"] = {
            "forward": row["bound_forward"], "backward": row["bound_backward"]}
    report = flops_of_spec("resnet50", "imagenet", "swat-u", sparsity)
    bwd = ("backward_input", "backward_weight")
    table["bound: FLOPs (SWAT A.3)"] = {
        "forward": round(report.total("forward", "dense_macs")
                         / report.total("forward", "effectual_macs"), 4),
        "backward": round(sum(report.total(p, "dense_macs") for p in bwd)
                          / sum(report.total(p, "effectual_macs") for p in bwd), 4)}
    for name, row in table.items():
        if not name.startswith(("bit-parallel", "ideal", "bound")):
            row.pop("bound_forward", None)  # a bit-serial base is pe_bits cycles a step
            row.pop("bound_backward", None)


def distance(got: dict[str, float], paper: dict[str, float]) -> float:
    """Mean |log(ours / paper)| over forward and backward (0 = equal)."""
    return sum(abs(math.log(got[k] / paper[k])) for k in paper) / len(paper)


GROUPS = ("bit-parallel", "tclp", "tcle", "bound: scheduled", "bound: FLOPs", "ideal")
LABELS = {"tclp ": "TCLp ", "tcle ": "TCLe ",
          "bound: FLOPs (SWAT A.3)": "bound: FLOPs (SWAT A.3, perfect balance)",
          "ideal array": "`ideal` array (effectual MACs / 4096)"}


def _pair(row: dict[str, float] | None) -> str:
    """``forward / backward`` of a row, or empty when the model has no such row."""
    return "" if row is None else f"{row['forward']:.2f}x / {row['backward']:.2f}x"


def _label(name: str) -> str:
    """The README label of a model (the table's spelling of its name)."""
    for old, new in LABELS.items():
        if name.startswith(old):
            name = new + name[len(old):]
    return name


def render_table(data: dict[str, Any]) -> str:
    """The README table of a result: per model its 80% and 90% forward / backward speedups on
    the synthetic traces, its mean |log(ours / paper)| over both, and its speedups on the real
    ResNet-20 digits traces (90%); the closest model in bold."""
    paper, synth, real = data["paper"], data["synthetic"], data["real_resnet20_digits_0.9"]
    lines = ["| model | 80% fwd / bwd | 90% fwd / bwd | mean \\|log(ours / paper)\\| | "
             "real ResNet-20 digits, 90% |", "|---|---|---|---|---|",
             "| paper (Table 6) | " + " | ".join(
                 f"{paper[s]['forward']:g}x / {paper[s]['backward']:g}x" for s in ("0.8", "0.9"))
             + " | 0 | |"]
    names = sorted(synth["0.9"], key=lambda n: next(
        i for i, g in enumerate(GROUPS) if n.startswith(g)))
    for name in names:
        cells = [_label(name), _pair(synth["0.8"][name]), _pair(synth["0.9"][name]),
                 f"{data['distance_to_paper'][name]:.3f}"]
        if name == data["closest"][0]:
            cells = [f"**{c}**" for c in cells]
        cells.append(_pair(real.get(name)))
        lines.append("|" + "|".join(f" {c} " if c else " " for c in cells) + "|")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every model on the synthetic traces (80%, 90%) and the real ResNet-20 digits traces,
    written to ``args.out`` as it goes; the result."""
    models = machines()
    result: dict[str, Any] = {"machine": machine(), "paper": {str(k): v for k, v in
                                                              PAPER.items()}}
    t0 = time.perf_counter()
    layers = synthetic_layers(0.9, 1)
    result["generate_s"] = round(time.perf_counter() - t0, 1)
    tcle = models["tcle T<2,5> weights per-tensor"]
    speedups(layers[:2], tcle)  # warm the numba cache
    t0 = time.perf_counter()
    for g, ops in layers:
        simulate_operands(g, ops, tcle, ("forward",))
    one_pass = time.perf_counter() - t0
    serial = sum(1 for name in models if name.startswith("tcl"))
    estimate = one_pass * 3 * serial * 2  # the bit-serial passes dominate
    stride = args.layer_stride or max(1, math.ceil(estimate / args.budget_s))
    result["timing"] = {"tcle_forward_pass_s": round(one_pass, 1),
                        "estimated_whole_s": round(estimate, 1), "layer_stride": stride,
                        "layers_kept": math.ceil(len(layers) / stride), "layers": len(layers)}
    print(f"one TCLe forward pass: {one_pass:.1f} s; whole table ~{estimate:.0f} s; "
          f"layer stride {stride}", flush=True)
    result["synthetic"] = {}
    for sparsity in (0.8, 0.9):
        kept = synthetic_layers(sparsity, stride)
        table = {}
        for name, hw in models.items():
            s = speedups(kept, hw)
            table[name] = s
            print(f"{sparsity:.0%} {name:40} forward {s['forward']:.2f} backward "
                  f"{s['backward']:.2f}  (paper {PAPER[sparsity]['forward']} / "
                  f"{PAPER[sparsity]['backward']})", flush=True)
        add_bounds(table, sparsity)
        for row in table.values():
            row["distance_to_paper"] = round(distance(row, PAPER[sparsity]), 4)
        result["synthetic"][str(sparsity)] = table
        write_json_atomic(args.out, result)
    small = real_layers(Path(args.runs))
    real = {name: speedups(small, hw) for name, hw in models.items()}
    for schedule in ("weights", "sparser"):
        row = real[f"bit-parallel T<2,5> {schedule}"]
        real[f"bound: scheduled non-zeros / lanes, {schedule}"] = {
            "forward": row["bound_forward"], "backward": row["bound_backward"]}
    result["real_resnet20_digits_0.9"] = real
    rows = result["synthetic"]["0.9"]
    both = {name: sum(result["synthetic"][str(s)][name]["distance_to_paper"]
                      for s in (0.8, 0.9)) / 2 for name in rows}
    result["closest"] = sorted(both, key=both.get)[:6]
    result["distance_to_paper"] = {k: round(v, 4) for k, v in both.items()}
    write_json_atomic(args.out, result)
    print("closest to the paper: " + ", ".join(f"{n} ({both[n]:.3f})"
                                               for n in result["closest"]))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/table6.json")
    parser.add_argument("--budget-s", type=float, default=900.0)
    parser.add_argument("--layer-stride", type=int, default=0,
                        help="keep every K-th layer (0: decide from --budget-s)")
    parser.add_argument("--runs", default="runs/calibration",
                        help="the bench_calibration.py run directories (real, small scale)")
    add_table_option(parser)
    args = parser.parse_args()
    if printed_table(args, render_table):
        return
    print(render_table(run(args)))


if __name__ == "__main__":
    main()
