"""Figure subcommands: plot, report, validate (matplotlib, through :mod:`plots`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from accelsim.cli import options as o
from accelsim.cli.printing import print_json, table
from accelsim.errors import AccelsimError
from accelsim.validate import BASELINES, validate
from plots.data import COMPONENTS
from plots.figures import FIGURE_KINDS, plot
from plots.report import build_report
from plots.validation import write_figures


def figsize(text: str) -> tuple[float, float]:
    """``--figsize WxH`` (or ``W,H``): the figure's width and height in inches."""
    parts = text.lower().replace(",", "x").split("x")
    try:
        w, h = (float(v) for v in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT in inches, e.g. "
                                         "8x4.5") from None
    if not (0 < w <= 100 and 0 < h <= 100):
        raise argparse.ArgumentTypeError(f"{text!r}: each side must be above 0 and at most "
                                         "100 inches")
    return w, h


def dpi(text: str) -> int:
    """``--dpi N``: dots per inch, 1 to 1200."""
    value = o.pos_int(text)
    if value > 1200:
        raise argparse.ArgumentTypeError(f"{text!r}: give at most 1200 dots per inch")
    return value


def add_size(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dpi", type=dpi, default=120,
                   help="dots per inch of PNG figures (and of the raster parts of SVG ones)")
    p.add_argument("--figsize", type=figsize, default=None, metavar="WxH",
                   help="figure size in inches, e.g. 8x4.5 (default: sized to the content)")


def add_reference(p: argparse.ArgumentParser) -> None:
    """``--reference`` for traces and run directories simulated here (default dadiannao);
    results read from a store or a report keep the reference they were measured against,
    and naming another one is an error."""
    o.add_reference(p)
    p.set_defaults(reference=None)


def add_plot(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", metavar="KIND", help=" | ".join(FIGURE_KINDS))
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="results: a SQLite store, CSV, report JSON (`simulate --json`), trace "
                        "or run directory (simulated); training/density: a run directory")
    o.add_out(p, "figure file to write (.png or .svg)", "FIG")
    o.add_hardware(p, "hardware for inputs that are traces or run directories")
    o.add_where(p, "keep only result rows with this column value (repeatable), e.g. "
                   "backend.kind=tcle or hardware_digest=PREFIX")
    o.add_passes(p, None, "sparsity/layers: the passes to show; heatmap/pareto: the passes "
                          "to sum (default: all three: a training step)")
    p.add_argument("--workload", default=None,
                   help="heatmap: the workload (trace, digest or label) when there are several")
    o.add_gpu_results(p, help="layers: measured GPU speedups to draw beside the simulated ones")
    p.add_argument("--cost", default="both", choices=("area", "energy", "both"),
                   help="pareto: cost axis")
    p.add_argument("--epoch", type=o.pos_int, default=None,
                   help="density: epoch to show (1-based; default the last)")
    add_size(p)
    add_reference(p)
    o.add_title(p)


def summed_pass(passes: tuple[str, ...]) -> str:
    """The reported pass that sums ``passes`` (``backward``: both backward passes;
    ``training_step``: all three)."""
    for name, parts in COMPONENTS.items():
        if set(parts) == set(passes):
            return name
    raise AccelsimError(f"--passes {','.join(passes)}: heatmap and pareto sum one pass, both "
                        "backward passes (backward_input,backward_weight) or all three")


#: plot flag -> the figure kinds it applies to
APPLIES: dict[str, tuple[str, ...]] = {
    "--passes": ("sparsity", "layers", "heatmap", "pareto"), "--workload": ("heatmap",),
    "--gpu-results": ("layers",), "--epoch": ("density",),
    "--reference": ("sparsity", "layers", "heatmap", "pareto")}


def plot_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword options of :func:`plots.figures.plot` for ``args.kind``; raises for a
    flag that does not apply to that figure."""
    kind = args.kind
    given = {"--passes": args.passes, "--workload": args.workload,
             "--gpu-results": args.gpu_results, "--epoch": args.epoch,
             "--reference": args.reference}
    o.unused({flag: v for flag, v in given.items() if kind not in APPLIES[flag]},
             f"the {kind} figure")
    options: dict[str, Any] = {"title": args.title} if args.title else {}
    if FIGURE_KINDS[kind][1] == "results":
        options["where"] = o.parse_key_values(args.where, "--where", "backend.kind=tcle")
        options["hardware"] = args.hardware
        options["reference"] = args.reference
    passes = o.parse_passes(args.passes)
    if kind in ("sparsity", "layers") and passes:
        options["passes"] = passes
    if kind in ("heatmap", "pareto"):
        options["pass_name"] = summed_pass(passes or COMPONENTS["training_step"])
    if kind == "heatmap":
        options["workload"] = args.workload
    if kind == "layers":
        options["gpu"] = args.gpu_results
    if kind == "pareto":
        options["cost"] = args.cost
    if kind == "density" and args.epoch is not None:
        options["epoch"] = args.epoch
    return options


def run_plot(args: argparse.Namespace) -> int:
    if args.kind not in FIGURE_KINDS:
        raise AccelsimError(f"unknown figure kind {args.kind!r}; choose one of "
                            f"{', '.join(FIGURE_KINDS)}")
    plot(args.kind, args.inputs, args.out, dpi=args.dpi, figsize=args.figsize,
         **plot_options(args))
    print(f"wrote {args.out}")
    return 0


def add_report(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="RUN_OR_RESULTS",
                   help="a training run directory, or results (store, CSV, JSON, traces)")
    o.add_out(p, "HTML file to write (.html or .htm)", "REPORT.html")
    o.add_hardware(p, "hardware to simulate traces on")
    o.add_gpu_results(p)
    add_size(p)
    add_reference(p)
    o.add_title(p, "page")


def run_report(args: argparse.Namespace) -> int:
    path = build_report(args.inputs, args.out, hardware=args.hardware, gpu=args.gpu_results,
                        title=args.title, dpi=args.dpi, figsize=args.figsize,
                        reference=args.reference)
    print(f"wrote {path}")
    return 0


def add_validate(p: argparse.ArgumentParser) -> None:
    o.add_trace(p, help="the trace the GPU results were measured on (a run directory: its "
                        "latest trace unless --step)")
    o.add_gpu_results(p, required=True, help="the measured GPU speedups")
    o.add_hardware(p)
    p.add_argument("--baseline", default="dense_fp32", choices=BASELINES,
                   help="dense GPU baseline the measured speedups are over; a minimal "
                        "{\"layers\": ...} file has dense_fp32 only")
    o.add_out(p, "directory for validation-scatter.FMT and validation-layers.FMT", "DIR",
              default=".")
    p.add_argument("--format", default="png", choices=("png", "svg"), help="figure format")
    o.add_json(p, "print the joined rows and statistics as JSON ('wrote' lines on stderr)")


def run_validate(args: argparse.Namespace) -> int:
    result = validate(args.trace, args.gpu_results, args.hardware, step=args.step,
                      baseline=args.baseline)
    figures = write_figures(result, args.out, fmt=args.format)
    if args.json:
        print_json({**result.to_dict(), "figures": figures})
        for path in figures:
            print(f"wrote {path}", file=sys.stderr)
        return 0
    print(f"trace {result.trace} on {result.hardware}; measured on {result.device or 'GPU'} "
          f"({result.gpu_results}, speedups over {result.baseline})")
    print(table(["layer", "pass", "simulated", "measured", "measured/simulated"],
                [[r.layer, r.pass_name, f"{r.simulated:.2f}x", f"{r.measured:.2f}x",
                  f"{r.ratio:.3f}"] for r in result.rows]))
    for line in result.summary_lines():
        print(line)
    for path in figures:
        print(f"wrote {path}")
    return 0


COMMANDS: dict[str, o.Command] = {
    "plot": o.Command("Draw one figure (PNG or SVG, by --out's extension). KIND: sparsity "
                      "(speedup vs sparsity per pass, one line per architecture), heatmap "
                      "(speedup over lookahead x lookaside), layers (per-layer speedups, GPU "
                      "beside with --gpu-results), pareto (speedup vs area/energy), training "
                      "(curves of a run directory), density (per-layer density and DNR of a "
                      "run).", add_plot, run_plot),
    "report": o.Command("Write one self-contained HTML page (inline figures, no external "
                        "assets) for a training run directory (metrics, and its latest trace "
                        "simulated) or for simulation results (store, CSV, JSON, traces).",
                        add_report, run_report),
    "validate": o.Command("Simulated vs measured: join the simulated speedups of a trace with "
                          "the GPU speedups of `accelsim gpu-bench` per layer and pass; print "
                          "the table, Spearman rank correlation and geometric-mean ratio "
                          "measured/simulated; write validation-scatter and validation-layers "
                          "figures.", add_validate, run_validate),
}
