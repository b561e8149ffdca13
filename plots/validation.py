"""Figures of a GPU validation (:func:`accelsim.validate.validate`): the scatter of simulated
against measured speedups and the per-layer bars."""

from __future__ import annotations

import math
import os
from pathlib import Path

from accelsim.measured import GpuResults
from accelsim.trace.schema import PASSES
from accelsim.validate import FIGURE_NAMES, ValidationError, ValidationResult
from plots.figures import plot_layer_speedups, plot_validation_scatter

__all__ = ["write_figures"]


def write_figures(result: ValidationResult, out_dir: str | os.PathLike[str], *,
                  fmt: str = "png") -> list[str]:
    """Write ``validation-scatter.FMT`` (simulated vs measured, one point per layer and
    pass) and ``validation-layers.FMT`` (per-layer bars, simulated beside measured) into
    ``out_dir`` (created), each atomically.  Returns the paths."""
    if fmt not in ("png", "svg"):
        raise ValidationError(f"figure format {fmt!r}: choose png or svg")
    if result.report is None:
        raise ValidationError("this ValidationResult carries no simulation report to plot")
    out = Path(out_dir)
    scatter, layers = (out / f"{name}.{fmt}" for name in FIGURE_NAMES)
    device = result.device or "GPU"
    rho = f"{result.spearman:.2f}" if math.isfinite(result.spearman) else "n/a"
    note = (f"Spearman ρ = {rho}\ngeo-mean measured/simulated = {result.geomean_ratio:.2f}\n"
            f"{result.matched} layer-pass pairs")
    plot_validation_scatter([r.to_dict() for r in result.rows], scatter,
                            simulated_label=result.hardware or "accelerator",
                            measured_label=device, baseline=result.baseline.replace("_", " "),
                            note=note)
    measured = GpuResults({(r.layer, r.pass_name): r.measured for r in result.rows},
                          result.device, result.gpu_results)
    shown = tuple(p for p in PASSES if any(r.pass_name == p for r in result.rows))
    plot_layer_speedups(result.report, layers, gpu=measured, passes=shown,
                        title=f"Simulated vs measured on {device} (over "
                              f"{result.baseline.replace('_', ' ')}) per layer")
    return [str(scatter), str(layers)]
