"""What the CLI prints: fixed-width tables (no dependencies) and the tables of a trace
summary, a FLOP report and a simulation report."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO


def pct(x: float) -> str:
    """0.1234 -> '12.3%'."""
    return f"{100 * x:.1f}%"


def fmt_count(n: float) -> str:
    """12345678 -> '12.35M' (SI, for MAC counts)."""
    n = float(n)
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f}{unit}"
    return f"{n:.0f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A fixed-width text table: numbers right-aligned, the rest left-aligned."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for j, row in enumerate(cells):
        lines.append("  ".join(c.rjust(w) if j and _numeric(c) else c.ljust(w)
                               for c, w in zip(row, widths, strict=True)).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _numeric(text: str) -> bool:
    t = text.rstrip("%GMkx")
    try:
        float(t)
    except ValueError:
        return False
    return True


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout."""
    print(json.dumps(data, indent=1))


def print_summary(summary: dict[str, Any], out: TextIO | None = None) -> None:
    """A trace's metadata and per layer the operand shapes and densities of each pass."""
    out = out or sys.stdout
    md = summary["metadata"]
    print(f"trace   {summary['path']}  ({summary['file_bytes'] / 1e6:.2f} MB, schema "
          f"v{summary['schema_version']}, values {summary['encoding']})", file=out)
    print(f"model   {md['model']} on {md['dataset']}, method {md['method']} "
          f"{json.dumps(md['method_params'])}", file=out)
    print(f"step    {md['step']} (epoch {md['epoch']}, phase {md['phase']}), mode {md['mode']}, "
          f"{len(md['batch_indices'])} sample(s) {md['batch_indices'][:8]}", file=out)
    rows = []
    for layer in summary["layers"]:
        p = layer["passes"]

        def get(pass_name: str, key: str, p=p) -> str:
            return pct(p[pass_name][key]) if pass_name in p else "-"

        shapes = p.get("forward", next(iter(p.values())))["shapes"]
        rows.append([layer["layer"], layer["geometry"]["kind"],
                     "x".join(map(str, shapes.get("weight", []))) or "-",
                     "x".join(map(str, shapes.get("activation", []))) or "-",
                     get("forward", "weight_density"), get("forward", "activation_density"),
                     get("backward_input", "grad_density"),
                     get("backward_weight", "activation_density"),
                     get("backward_weight", "grad_density")])
    print(table(["layer", "kind", "weight", "activation", "fw W dens", "fw A dens",
                 "bi G dens", "bw A dens", "bw G dens"], rows), file=out)


def print_flops(report: Any, out: TextIO | None = None) -> None:
    """A :class:`accelsim.flops.FlopReport`: per layer dense and effectual MACs, the totals
    and the inference and training FLOPs reductions."""
    out = out or sys.stdout
    passes = ("forward", "backward_input", "backward_weight")
    rows = []
    for lf in report.layers:
        row = [lf.geometry.name, lf.geometry.kind, fmt_count(lf.geometry.macs_per_sample)]
        for p in passes:
            f = lf.passes.get(p)
            row.append(f"{fmt_count(f.effectual_macs)} ({pct(f.effectual_macs / f.dense_macs)})"
                       if f and f.dense_macs else "-")
        rows.append(row)
    print(table(["layer", "kind", "MACs/sample", "forward eff.", "backward-input eff.",
                 "backward-weight eff."], rows), file=out)
    print(f"\nsource: {report.source}, batch {report.batch}", file=out)
    for p in passes:
        d, e = report.total(p, "dense_macs"), report.total(p, "effectual_macs")
        print(f"  {p:16s} dense {fmt_count(d):>9s} MACs  effectual {fmt_count(e):>9s} "
              f"({pct(e / d) if d else '-'})", file=out)
    print(f"inference FLOPs reduction: {pct(report.inference_flops_reduction)}", file=out)
    print(f"training FLOPs reduction:  {pct(report.training_flops_reduction)}", file=out)


def print_simulation(report: Any, out: TextIO | None = None) -> None:
    """A :class:`accelsim.simulate.Report`: per layer and pass cycles (base, compute, ideal,
    stall), speedup against the reference, utilisation and energy (uJ), then the totals per
    pass with the energy breakdown, and the machine's area."""
    out = out or sys.stdout
    ref = report.reference_hardware
    print(f"hardware: {report.hardware.describe()}", file=out)
    if ref is not None:
        print(f"reference: {ref.describe()}", file=out)
    rows = []
    for lr in report.layers:
        for p in lr.passes:
            d = lr.figures(p)
            rows.append([lr.geometry.name, p, fmt_count(d["base_cycles"]),
                         fmt_count(d["compute_cycles"]), fmt_count(d["ideal_cycles"]),
                         fmt_count(d["stall_cycles"]), _times(d.get("speedup")),
                         f"{100 * d['exploited_sparsity']:.0f}%",
                         f"{100 * d['pe_utilisation']:.0f}%", f"{d['energy_pj'] / 1e6:.3g}",
                         _times(d.get("energy_efficiency")), d["scheduled"]])
    print(table(["layer", "pass", "base cyc", "compute cyc", "ideal cyc", "stall cyc", "speedup",
                 "exploited", "PE util", "energy uJ", "energy eff", "scheduled"], rows), file=out)
    print("\ntotals: (speedup and energy efficiency against the reference)", file=out)
    for name, d in report.total_figures().items():
        parts = ", ".join(f"{k} {v / 1e6:.3g}" for k, v in d["energy_breakdown_pj"].items())
        print(f"  {name:16s} {d['time_s'] * 1e3:.4g} ms  speedup {_times(d.get('speedup'))} "
              f"(own dense {d['speedup_vs_own_dense']:.2f}x)  energy {d['energy_pj'] / 1e6:.4g} uJ "
              f"({parts})  energy eff {_times(d.get('energy_efficiency'))}", file=out)
    area = report.to_dict()["area_breakdown_mm2"]
    print(f"area: {sum(area.values()):.4g} mm2 ("
          + ", ".join(f"{k} {v:.3g}" for k, v in area.items()) + ")", file=out)


def _times(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}x"


def print_layer_passes(passes: dict[str, dict[str, Any]]) -> None:
    """One line per pass of a single simulated layer (``LayerReport.to_dict()``)."""
    for p, d in passes.items():
        print(f"{p:16s} base {d['base_cycles']:>10d}  compute {d['compute_cycles']:>10d}  "
              f"ideal {d['ideal_cycles']:>10d}  stall {d['stall_cycles']:>10d}  "
              f"speedup {_times(d.get('speedup'))} vs {d.get('reference', '-')}  "
              f"energy {d['energy_pj'] / 1e6:.4g} uJ "
              f"(energy eff {_times(d.get('energy_efficiency'))})")


def print_comparison(comparison: Any, out: TextIO | None = None) -> None:
    """An :class:`accelsim.api.Comparison`: one row per machine -- time, speedup and energy
    efficiency against the reference, energy and its parts (uJ), area (mm2), effectual GOPS,
    GOPS/mm2 and GOPS/W -- of the sum of the simulated passes."""
    out = out or sys.stdout
    rows = comparison.rows()
    parts = list(rows[0]["energy_breakdown_pj"]) if rows else []
    body = [[r["name"], f"{r['time_s'] * 1e3:.4g}", _times(r["speedup"]),
             f"{r['energy_pj'] / 1e6:.4g}",
             *(f"{r['energy_breakdown_pj'][k] / 1e6:.3g}" for k in parts),
             _times(r["energy_efficiency"]), f"{r['area_mm2']:.4g}",
             f"{r['effectual_gops']:.4g}", f"{r['gops_per_mm2']:.3g}",
             f"{r['gops_per_w']:.4g}"] for r in rows]
    print(f"reference: {comparison.reference.describe()}; passes: "
          f"{', '.join(comparison.passes)}", file=out)
    print(table(["machine", "time ms", "speedup", "energy uJ", *(f"{k} uJ" for k in parts),
                 "energy eff", "area mm2", "eff. GOPS", "GOPS/mm2", "GOPS/W"], body), file=out)
