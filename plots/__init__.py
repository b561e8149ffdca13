"""Figures and HTML reports from simulation results and training run directories.

Never imports torch; matplotlib draws on the Agg canvas (no pyplot, no global backend).

* :func:`plot_speedup_vs_sparsity` -- speedup vs sparsity per pass, one line per
  architecture (SWAT Table 6 view);
* :func:`plot_lookahead_heatmap` -- speedup over (lookahead, lookaside) for one workload;
* :func:`plot_layer_speedups` -- per-layer simulated speedup per pass, measured GPU
  speedup beside it;
* :func:`plot_validation_scatter` -- simulated vs measured GPU speedup, one point per
  layer and pass (``accelsim validate``);
* :func:`plot_pareto` -- speedup vs area/energy cost with the Pareto front;
* :func:`plot_training_curves`, :func:`plot_layer_density` -- a training run directory;
* :func:`plot` -- any of them by kind name; :func:`build_report` -- the HTML page.

Results inputs and their row format: :mod:`plots.data`; design points :mod:`plots.points`;
run directories :mod:`plots.runs` (layout :mod:`accelsim.rundir`).
"""

from plots.canvas import save_figure
from plots.data import (
    PASSES,
    TOTAL,
    GpuResults,
    PlotError,
    load_gpu_results,
    load_rows,
    rows_from_report,
)
from plots.figures import (
    FIGURE_KINDS,
    plot,
    plot_layer_speedups,
    plot_lookahead_heatmap,
    plot_pareto,
    plot_speedup_vs_sparsity,
)
from plots.points import area_proxy
from plots.report import build_report
from plots.run_figures import plot_layer_density, plot_training_curves
from plots.runs import RunData, load_run
from plots.validation import plot_validation_scatter

__all__ = [
    "FIGURE_KINDS", "PASSES", "TOTAL", "GpuResults", "PlotError", "RunData",
    "area_proxy", "build_report", "load_gpu_results", "load_rows", "load_run", "plot",
    "plot_layer_density", "plot_layer_speedups", "plot_lookahead_heatmap", "plot_pareto",
    "plot_speedup_vs_sparsity", "plot_training_curves", "plot_validation_scatter",
    "rows_from_report", "save_figure",
]
