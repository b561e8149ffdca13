"""The simulation-results sections of the report (:mod:`plots.report`): hardware and
workloads (points sorted by name), per-point totals (time, speedups against the reference,
energy), the per-layer table and figure of the fastest point (least time), the GPU
comparison and the sweep figures."""

from __future__ import annotations

from typing import Any

from accelsim.pipeline.energy import ENERGY_PARTS
from plots.data import COMPONENTS, PASS_LABELS, PASSES, TOTAL, GpuResults
from plots.figures import (
    network_order,
    plot_layer_speedups,
    plot_lookahead_heatmap,
    plot_pareto,
    plot_speedup_vs_sparsity,
)
from plots.page import Page, count, esc, html_table, micros, millis, times
from plots.points import (
    Totals,
    architecture_labels,
    point_key,
    point_totals,
    row_speedup,
    row_time_s,
    sparsity_of,
    speedup_label,
    speedup_of,
    uses_reference,
    workload_label,
)

__all__ = ["simulation_section"]

MAX_LAYER_ROWS = 400


def _hardware_table(rows: list[dict[str, Any]]) -> str:
    points: dict[str, dict[str, Any]] = {}
    for r in rows:
        points.setdefault(point_key(r)[1], r)
    keys = sorted({k for r in points.values() for k in r if "." in k
                   and not k.startswith(("energy.", "hardware.", "workload.", "method_params."))})
    varying = [k for k in keys if len({str(r.get(k)) for r in points.values()}) > 1]
    labels = architecture_labels(rows)
    shown = sorted(points.values(), key=lambda r: labels[point_key(r)[1]])[:50]
    if len(points) == 1:
        r = shown[0]
        return html_table(["hardware parameter", "value"],
                      [("name", r.get("hardware.name", "")),
                       ("digest", str(r.get("hardware_digest", ""))[:16]),
                       *((k, r.get(k)) for k in keys)], left=2)
    cols = varying or keys[:8]
    return (f"<p>{len(points)} hardware points (by name); the parameters that vary:</p>"
            + html_table(["architecture", "digest", *cols],
                     [[labels[point_key(r)[1]], str(r.get("hardware_digest", ""))[:12],
                       *(r.get(k) for k in cols)] for r in shown], left=2)
            + (f'<p class="note">first 50 of {len(points)} shown.</p>'
               if len(points) > 50 else ""))


def _fastest(points: dict[tuple[str, str], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The rows of the fastest point (least training-step time, :attr:`Totals.rank`) on the
    workload most points ran (times of different workloads are not compared)."""
    by_workload: dict[str, list[list[dict[str, Any]]]] = {}
    for (workload, _), rs in points.items():
        by_workload.setdefault(workload, []).append(rs)
    most = max(by_workload.values(), key=len)
    return min(most, key=lambda rs: point_totals(rs, "training_step").rank)


def _opt(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _energy_row(step: Totals, against: bool) -> list[str]:
    """Energy per step and its parts (µJ), energy efficiency, area and GOPS figures."""
    parts = step.energy_parts_pj
    efficiency = step.energy_efficiency if against else None
    return [f"{step.energy_pj / 1e6:.3f}",
            *(("-",) * len(ENERGY_PARTS) if parts is None else
              (f"{parts[k] / 1e6:.3f}" for k in ENERGY_PARTS)),
            "-" if efficiency is None else times(efficiency), _opt(step.area_mm2, ".2f"),
            _opt(step.effectual_gops, ".4g"), _opt(step.gops_per_w, ".4g"),
            _opt(step.gops_per_mm2, ".4g")]


def _totals_section(page: Page, points: dict[tuple[str, str], list[dict[str, Any]]],
                    labels: dict[str, str], against: bool) -> list[dict[str, Any]]:
    """The per-point totals: time and speedups, then energy (with its breakdown), area and
    the GOPS figures; returns the rows of the fastest point (training step)."""
    page.section("Totals")
    speed, energy = [], []
    for rs in points.values():
        t = {p: point_totals(rs, p) for p in COMPONENTS}
        step = t["training_step"]
        s = sparsity_of(rs[0])
        who = [workload_label(rs[0]), labels[point_key(rs[0])[1]],
               "-" if s is None else f"{100 * s:.0f}%"]
        speed.append([*who, millis(step.time_s),
                      *(times(speedup_of(t[p], against)) for p in COMPONENTS),
                      count(step.compute_cycles + step.stall_cycles), count(step.stall_cycles)])
        energy.append([*who, *_energy_row(step, against)])
    speed.sort(key=lambda r: (r[0], r[1], r[2]))
    energy.sort(key=lambda r: (r[0], r[1], r[2]))
    base = speedup_label(r for rs in points.values() for r in rs)
    page.add(f"<p>Time = (compute + stall cycles) / clock; the fastest design point takes "
             f"the least time. Speedups: {esc(base.replace(' (×)', ''))}, per pass and summed "
             "over the passes (reference time / time"
             + ("" if against else "; the rows name no reference machine, so each design "
                "is measured against its own dense twin and speedups of different designs "
                "do not compare") + ").</p>")
    who = ["workload", "architecture", "sparsity"]
    page.add(html_table([*who, "time per step (ms)", *(PASS_LABELS[p] for p in COMPONENTS),
                         "cycles", "stall cycles"], speed, left=2))
    page.add("<p>Energy per training step and its parts (µJ), energy efficiency (reference "
             "energy / energy), area (mm²) and effectual GOPS (2 operations per effectual "
             "MAC) per second, per watt and per mm².</p>")
    page.add(html_table([*who, "energy (µJ)", *ENERGY_PARTS, "energy efficiency", "area (mm²)",
                         "GOPS", "GOPS/W", "GOPS/mm²"], energy, left=2))
    return _fastest(points)


def _layers_section(page: Page, best: list[dict[str, Any]], n_points: int,
                    labels: dict[str, str], gpu: GpuResults | None) -> list[dict[str, Any]]:
    """The per-layer table and figure of ``best`` (network order); returns its layer rows."""
    layer_rows = [r for r in best if r.get("layer") != TOTAL]
    order = {name: i for i, name in enumerate(network_order(layer_rows))}
    layer_rows.sort(key=lambda r: (order[r["layer"]], PASSES.index(r["pass"])
                                   if r["pass"] in PASSES else len(PASSES)))
    against = uses_reference(best)
    page.section("Per-layer results" if n_points == 1 else
                 "Per-layer results of the fastest design point")
    if n_points > 1:
        page.add(f"<p>{esc(workload_label(best[0]))} on {esc(labels[point_key(best[0])[1]])} "
                 f"(hardware {esc(str(best[0].get('hardware_digest', ''))[:12])}), the "
                 "design point of least time.</p>")
    if not layer_rows:
        page.add('<p class="note">the results hold totals only.</p>')
        return layer_rows
    table = [[r["layer"], PASS_LABELS.get(r["pass"], r["pass"]), count(r.get("base_cycles")),
              count(r.get("compute_cycles")), count(r.get("ideal_cycles")),
              count(r.get("stall_cycles")), micros(row_time_s(r)), times(row_speedup(r, against)),
              f"{float(r.get('energy_pj') or 0) / 1e6:.4f}"]
             for r in layer_rows[:MAX_LAYER_ROWS]]
    page.add(html_table(["layer", "pass", "dense cycles", "compute cycles", "ideal cycles",
                     "stall cycles", "time (µs)", speedup_label(best).replace(" (×)", ""),
                     "energy (µJ)"], table, left=2))
    page.try_figure(lambda: plot_layer_speedups(best, gpu=gpu),
                    "Simulated speedup per layer and pass, in network order"
                    + (", with the measured GPU speedup beside it." if gpu else "."))
    return layer_rows


def _gpu_section(page: Page, gpu: GpuResults, layer_rows: list[dict[str, Any]]) -> None:
    page.section("GPU comparison")
    sim = {(r["layer"], r["pass"]): float(r.get("speedup") or 0) for r in layer_rows}
    both = [(k, v) for k, v in gpu.speedups.items() if k in sim]
    page.add(f"<p>Measured on {esc(gpu.device or 'the GPU')}"
             f"{' (' + esc(gpu.source) + ')' if gpu.source else ''}: "
             f"{len(both)} of {len(gpu.speedups)} (layer, pass) pairs match the "
             "simulated ones.</p>")
    page.add(html_table(["layer", "pass", "simulated speedup", "GPU speedup"],
                    [[k[0], PASS_LABELS.get(k[1], k[1]), times(sim[k]), times(v)]
                     for k, v in both], left=2))


def _sweep_section(page: Page, rows: list[dict[str, Any]]) -> None:
    """The sweep figures that apply: over sparsity, over (h, d), over hardware points."""
    sparsities = {sparsity_of(r) for r in rows} - {None}
    cells = {(r.get("frontend.lookahead"), r.get("frontend.lookaside")) for r in rows
             if r.get("frontend.kind", "tcl") != "dense" and "frontend.lookahead" in r}
    hw_points = {point_key(r)[1] for r in rows}
    if len(sparsities) > 1 or len(cells) > 1 or len(hw_points) > 1:
        page.section("Sweep figures")
    if len(sparsities) > 1:
        page.try_figure(lambda: plot_speedup_vs_sparsity(rows),
                        "Speedup vs sparsity per pass, one line per architecture.")
    if len(cells) > 1:
        counts: dict[str, int] = {}
        for r in rows:
            counts[point_key(r)[0]] = counts.get(point_key(r)[0], 0) + 1
        top = max(counts, key=lambda k: counts[k])
        page.try_figure(lambda: plot_lookahead_heatmap(rows, workload=top),
                        "Training-step speedup over (lookahead, lookaside); where other "
                        "parameters vary, each cell shows its fastest point.")
    if len(hw_points) > 1:
        page.try_figure(lambda: plot_pareto(rows),
                        "Performance vs area and energy; the Pareto front in red.")


def simulation_section(page: Page, rows: list[dict[str, Any]],
                        gpu: GpuResults | None) -> None:
    points: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        points.setdefault(point_key(r), []).append(r)
    labels = architecture_labels(rows)
    page.section("Hardware and workloads")
    page.add(_hardware_table(rows))
    workloads = sorted({workload_label(rs[0]) for rs in points.values()})
    page.add(f"<p>Workload(s): {esc(', '.join(workloads))}.</p>")
    best = _totals_section(page, points, labels, uses_reference(rows))
    layer_rows = _layers_section(page, best, len(points), labels, gpu)
    if gpu is not None:
        _gpu_section(page, gpu, layer_rows)
    _sweep_section(page, rows)


