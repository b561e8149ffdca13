"""``accelsim``: one command, many subcommands.  Each subcommand only parses its
arguments, calls :mod:`accelsim.api` and prints; errors print one line, exit status 2."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from accelsim.errors import AccelsimError

EPILOG = """\
examples:
  accelsim demo                                  train SWAT-U on digits -> trace -> FLOPs -> cycles
  accelsim train --method swat-u --sparsity 0.9 --epochs 20 --trace-every 50 --out runs/swat
  accelsim layers --model resnet50 --dataset imagenet
  accelsim flops --model resnet50 --dataset imagenet --method swat-u --sparsity 0.8
  accelsim synthetic --model resnet18 --method swat-u --sparsity 0.9 --out r18.trace
  accelsim inspect r18.trace --json
  accelsim flops --trace r18.trace
  accelsim export-dnnsim r18.trace --out dnnsim/resnet18
  accelsim plot training runs/swat --out curves.svg
  accelsim report runs/swat --out report.html
  accelsim sweep sweep.toml --out results.sqlite --export results.parquet
  accelsim validate --trace r18.trace --gpu-results gpu.json --out-dir validation
"""


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


# ---- printing ---------------------------------------------------------------------------------
def print_summary(summary: dict[str, Any], out=None) -> None:
    out = out or sys.stdout
    from accelsim.textfmt import table

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
            return _pct(p[pass_name][key]) if pass_name in p else "-"

        shapes = p.get("forward", next(iter(p.values())))["shapes"]
        rows.append([layer["name"], layer["geometry"]["kind"],
                     "x".join(map(str, shapes.get("weight", []))) or "-",
                     "x".join(map(str, shapes.get("activation", []))) or "-",
                     get("forward", "weight_density"), get("forward", "activation_density"),
                     get("backward_input", "grad_density"),
                     get("backward_weight", "activation_density"),
                     get("backward_weight", "grad_density")])
    print(table(["layer", "kind", "weight", "activation", "fw W dens", "fw A dens",
                 "bi G dens", "bw A dens", "bw G dens"], rows), file=out)


def print_flops(report, out=None) -> None:
    out = out or sys.stdout
    from accelsim.textfmt import fmt_count, table

    passes = ("forward", "backward_input", "backward_weight")
    rows = []
    for lf in report.layers:
        row = [lf.geometry.name, lf.geometry.kind, fmt_count(lf.geometry.macs_per_sample)]
        for p in passes:
            f = lf.passes.get(p)
            row.append(f"{fmt_count(f.effectual_macs)} ({_pct(f.effectual_macs / f.dense_macs)})"
                       if f and f.dense_macs else "-")
        rows.append(row)
    print(table(["layer", "kind", "MACs/sample", "forward eff.", "backward-input eff.",
                 "backward-weight eff."], rows), file=out)
    print(f"\nsource: {report.source}, batch {report.batch}", file=out)
    for p in passes:
        d, e = report.total(p, "dense_macs"), report.total(p, "effectual_macs")
        print(f"  {p:16s} dense {fmt_count(d):>9s} MACs  effectual {fmt_count(e):>9s} "
              f"({_pct(e / d) if d else '-'})", file=out)
    print(f"inference FLOPs reduction: {_pct(report.inference_flops_reduction)}", file=out)
    print(f"training FLOPs reduction:  {_pct(report.training_flops_reduction)}", file=out)


# ---- subcommands -------------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    from accelsim import api

    result = api.demo(args.out, model=args.model, dataset=args.dataset, method=args.method,
                      sparsity=args.sparsity, epochs=args.epochs, batch=args.batch,
                      seed=args.seed, synthetic=args.synthetic, progress=not args.no_progress)
    if result.training is None:
        print(f"== synthetic {args.method} trace of {args.model}/{args.dataset} at sparsity "
              f"{args.sparsity}: {result.trace_path}\n")
    else:
        final = result.training.final
        print(f"\n== trained {args.method} at sparsity {args.sparsity} on {args.model}/digits: "
              f"test accuracy {final['test']['accuracy']:.4f}, weight density "
              f"{final['weight_density']['overall']:.3f}; {len(result.training.traces)} traces, "
              f"the last one: {result.trace_path}\n")
    print_summary(result.summary)
    print("\n== FLOP accounting, exact from the trace's masks\n")
    print_flops(result.trace_flops)
    print(f"\n== FLOP accounting from the spec (SWAT appendix A.3 convention): inference "
          f"{_pct(result.spec_flops.inference_flops_reduction)}, training "
          f"{_pct(result.spec_flops.training_flops_reduction)}")
    print("\n== simulated on the Bit-Tactical T<2,5> array (16 tiles x 16 rows x 16 lanes)\n")
    print_simulation(result.simulation)
    print(f"\nnext: accelsim inspect {args.out}   |   accelsim simulate {args.out} --csv")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from accelsim import api

    summary = api.inspect_trace(args.path, args.step)
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        print_summary(summary)
    return 0


def cmd_flops(args: argparse.Namespace) -> int:
    from accelsim import api

    if args.trace:
        report = api.flops_of_trace(args.trace, args.step)
    else:
        missing = [f"--{n}" for n in ("model", "method", "sparsity") if getattr(args, n) is None]
        if missing:
            raise AccelsimError(f"flops needs --trace PATH, or {', '.join(missing)} "
                                "(e.g. --model resnet50 --dataset imagenet --method swat-u "
                                "--sparsity 0.8)")
        report = api.flops_of_spec(args.model, args.dataset, args.method, args.sparsity,
                                   activation_sparsity=args.activation_sparsity,
                                   batch=args.batch, input_size=args.input_size)
    if args.json:
        print(json.dumps(report.to_dict(), indent=1))
    else:
        print_flops(report)
    return 0


def cmd_layers(args: argparse.Namespace) -> int:
    from accelsim import api
    from accelsim.textfmt import fmt_count, table

    layers = api.layer_table(args.model, args.dataset, args.input_size)
    if args.json:
        print(json.dumps([g.to_dict() for g in layers], indent=1))
        return 0
    rows = [[g.name, g.kind, g.in_channels, g.out_channels, f"{g.kernel_h}x{g.kernel_w}",
             f"{g.stride_h}x{g.stride_w}", f"{g.padding_h}x{g.padding_w}",
             f"{g.dilation_h}x{g.dilation_w}", g.groups, f"{g.input_h}x{g.input_w}",
             f"{g.output_h}x{g.output_w}", fmt_count(g.macs_per_sample)] for g in layers]
    print(table(["layer", "kind", "in", "out", "kernel", "stride", "pad", "dil", "groups",
                 "input", "output", "MACs"], rows))
    total = sum(g.macs_per_sample for g in layers)
    params = sum(g.weight_count for g in layers)
    print(f"\n{len(layers)} layers, {fmt_count(total)} MACs per sample, "
          f"{fmt_count(params)} conv/linear weights")
    return 0


def cmd_synthetic(args: argparse.Namespace) -> int:
    from accelsim import api

    fields: dict[str, Any] = {"model": args.model, "dataset": args.dataset, "batch": args.batch,
                              "activation_sparsity": args.activation_sparsity,
                              "activation_clustering": args.clustering,
                              "weight_structure": args.structure, "seed": args.seed,
                              "grad_sparsity": args.grad_sparsity,
                              "input_size": args.input_size}
    if args.method:
        fields.update(method=args.method, sparsity=args.sparsity)
    else:
        fields.update(weight_sparsity=args.sparsity, distribution=args.distribution,
                      first_layer_dense=not args.sparse_first_layer,
                      saved_activation=args.saved_activation)
    path = api.synthetic_trace(args.out, encoding=args.encoding, **fields)
    print(f"wrote {path}")
    return 0


def cmd_import_dnnsim(args: argparse.Namespace) -> int:
    from accelsim.trace.dnnsim import import_dnnsim

    path = import_dnnsim(args.directory, args.out, model=args.model, dataset=args.dataset,
                         batch_file=args.batch_file, encoding=args.encoding)
    print(f"wrote {path}")
    return 0


def cmd_export_dnnsim(args: argparse.Namespace) -> int:
    from accelsim.trace import find_trace
    from accelsim.trace.dnnsim import export_dnnsim

    path = export_dnnsim(find_trace(args.trace, args.step), args.out,
                         batch_file=args.batch_file, overwrite=args.force)
    print(f"wrote {path}")
    return 0


def print_simulation(report, out=None) -> None:
    out = out or sys.stdout
    from accelsim.textfmt import fmt_count, table

    hw = report.hardware
    print(f"hardware: {hw.describe()}", file=out)
    rows = []
    for lr in report.layers:
        for p, b in lr.passes.items():
            rows.append([lr.geometry.name, p, fmt_count(b.base_cycles), fmt_count(b.compute_cycles),
                         fmt_count(b.ideal_cycles), fmt_count(b.stall_cycles), f"{b.speedup:.2f}x",
                         f"{100 * b.exploited_sparsity:.0f}%", f"{100 * b.pe_utilisation:.0f}%",
                         f"{b.energy_pj / 1e6:.3g}", f"{b.energy_efficiency:.2f}x", b.scheduled])
    print(table(["layer", "pass", "base cyc", "compute cyc", "ideal cyc", "stall cyc", "speedup",
                 "exploited", "PE util", "energy uJ", "energy eff", "scheduled"], rows), file=out)
    print("\ntotals:", file=out)
    for name, b in report.totals().items():
        print(f"  {name:16s} base {fmt_count(b.base_cycles):>9s}  compute "
              f"{fmt_count(b.compute_cycles):>9s}  stall {fmt_count(b.stall_cycles):>9s}  "
              f"speedup {b.speedup:.2f}x  energy {b.energy_pj / 1e6:.4g} uJ "
              f"({b.energy_efficiency:.2f}x less than dense)", file=out)


def _resolve_hardware(args: argparse.Namespace):
    from accelsim.hardware import load_hardware

    return load_hardware(args.hardware)


def cmd_simulate(args: argparse.Namespace) -> int:
    from accelsim import api

    passes = tuple(p.strip().replace("-", "_") for p in args.passes.split(",") if p.strip())
    hw = _resolve_hardware(args)
    if args.synthetic:
        report = api.simulate_synthetic(args.synthetic, hw, dataset=args.dataset,
                                        method=args.method, sparsity=args.sparsity,
                                        batch=args.batch, seed=args.seed, passes=passes)
    elif args.trace:
        report = api.simulate_trace(args.trace, hw, passes=passes, step=args.step)
    else:
        raise AccelsimError("simulate needs a TRACE_OR_RUN_DIR or --synthetic MODEL")
    if args.json:
        print(json.dumps(report.to_dict(), indent=1))
    elif args.csv:
        print(report.to_csv(), end="")
    else:
        print_simulation(report)
    return 0


def cmd_simulate_layer(args: argparse.Namespace) -> int:
    from accelsim import api

    result = api.simulate_layer_files(args.weights, args.activations, output_grad=args.output_grad,
                                      stride=args.stride, padding=args.padding,
                                      hardware=_resolve_hardware(args))
    if args.json:
        print(json.dumps(result.to_dict(), indent=1))
    else:
        for p, d in result.to_dict().items():
            print(f"{p:16s} base {d['base_cycles']:>10d}  compute {d['compute_cycles']:>10d}  "
                  f"ideal {d['ideal_cycles']:>10d}  stall {d['stall_cycles']:>10d}  "
                  f"speedup {d['speedup']:.3f}x  energy {d['energy_pj'] / 1e6:.4g} uJ "
                  f"({d['energy_efficiency']:.2f}x less than dense)")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from accelsim.methods import METHOD_PROFILES
    from workloads.catalog import CIFAR_ONLY, DATASETS, MODEL_NAMES

    print("models:   " + ", ".join(f"{m}{' (CIFAR only)' if m in CIFAR_ONLY else ''}"
                                   for m in MODEL_NAMES))
    print("datasets:")
    for spec in DATASETS.values():
        print(f"  {spec.name:10s} {spec.channels}x{spec.image_size}x{spec.image_size}, "
              f"{spec.num_classes} classes: {spec.description}")
    print("methods (for FLOP specs and synthetic traces):")
    for p in METHOD_PROFILES.values():
        print(f"  {p.name:10s} {p.description}")
    return 0


def _train_config(args: argparse.Namespace):
    from training.loop import TrainConfig

    def split(text: str | None) -> tuple[str, ...]:
        return tuple(t.strip().replace("-", "_") for t in (text or "").split(",") if t.strip())
    return TrainConfig(
        method=args.method, sparsity=args.sparsity, model=args.model, data=args.data,
        input_size=args.input_size, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        momentum=args.momentum, nesterov=args.nesterov, weight_decay=args.weight_decay,
        lr_schedule=args.lr_schedule, warmup_epochs=args.warmup_epochs,
        label_smoothing=args.label_smoothing, seed=args.seed, topk_period=args.topk_period,
        weight_topk=args.weight_topk, activation_topk=args.activation_topk,
        acdc_warmup=args.acdc_warmup, acdc_compressed=args.acdc_compressed,
        acdc_decompressed=args.acdc_decompressed, acdc_final=args.acdc_final,
        trace_every=args.trace_every, trace_samples=args.trace_samples,
        trace_layers=tuple(t.strip() for t in (args.trace_layers or "").split(",")
                           if t.strip()),
        trace_passes=split(args.trace_passes), trace_encoding=args.trace_encoding,
        trace_at_boundaries=not args.no_trace_boundaries,
        max_steps_per_epoch=args.max_steps_per_epoch, method_params=_params(args.param))


def _params(items: Sequence[str] | None) -> dict[str, str]:
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise AccelsimError(f"--param {item!r} must look like NAME=VALUE")
        out[key.strip().replace("-", "_")] = value.strip()
    return out


def cmd_methods(args: argparse.Namespace) -> int:
    from training.methods import methods

    registry = methods()
    if args.json:
        print(json.dumps({name: {"summary": m.summary, "source": m.source,
                                 "uses_sparsity": m.uses_sparsity,
                                 "params": [{"name": p.name, "type": p.kind.__name__,
                                             "default": p.default, "help": p.help,
                                             "choices": list(p.choices)} for p in m.params]}
                          for name, m in registry.items()}, indent=1))
        return 0
    for name, m in registry.items():
        print(f"{name:14s} {m.summary}  [{m.source}]")
        for p in m.params:
            choices = f" ({'|'.join(p.choices)})" if p.choices else ""
            print(f"{'':16s}--param {p.name}={p.default!r}{choices}: {p.help}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from training.loop import train

    result = train(_train_config(args), args.out, progress=not args.no_progress,
                   device=args.device, log=None if args.json else print,
                   threads=args.threads or None)
    summary = {"run_dir": str(result.run_dir), **(result.final and {
        "epochs": len(result.metrics), "test_accuracy": result.final["test"]["accuracy"],
        "weight_density": result.final["weight_density"]["overall"]}),
        "traces": [str(t) for t in result.traces]}
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        print(f"run {result.run_dir}: {len(result.metrics)} epochs, test accuracy "
              f"{summary.get('test_accuracy', float('nan')):.4f}, {len(result.traces)} traces")
    return 0


def cmd_show_run(args: argparse.Namespace) -> int:
    from training.loop import open_run

    run = open_run(args.run_dir)
    if args.json:
        print(json.dumps({"run_dir": str(run.run_dir), "config": run.config.to_dict(),
                          "finished": run.finished, "metrics": run.metrics,
                          "events": run.events, "traces": [str(t) for t in run.traces]},
                         indent=1))
        return 0
    c = run.config
    print(f"run {run.run_dir}: {c.method} at sparsity {c.sparsity} on {c.model}/{c.data}, "
          f"{len(run.metrics)}/{c.epochs} epochs{'' if run.finished else ' (unfinished)'}")
    for m in run.metrics:
        act = (m["activation_density"]["train"] or m["activation_density"]["test"])["overall"]
        print(f"  epoch {m['epoch'] + 1:3d}{' ' + m['phase'] if m.get('phase') else ''}: test "
              f"acc {m['test']['accuracy']:.4f} loss {m['test']['loss']:.4f}, weight density "
              f"{m['weight_density']['overall']:.3f}, activation density {act:.3f}")
    print(f"  {len(run.events)} sparsifier events, {len(run.traces)} traces"
          + (f" (latest {run.traces[-1].name})" if run.traces else ""))
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from accelsim import store, sweep

    if args.spec is None and args.export is None:
        raise AccelsimError("sweep needs a SPEC.toml to run, or --export FILE to export the "
                            "store given by --out")
    if args.spec is not None:
        spec = sweep.load_sweep(args.spec)
        for s in spec.skipped[:5]:
            print(f"skipped invalid hardware {s.params}: {s.reason}", file=sys.stderr)
        if len(spec.skipped) > 5:
            print(f"... {len(spec.skipped) - 5} more invalid combinations skipped",
                  file=sys.stderr)
        result = sweep.run_sweep(spec, args.out, workers=args.workers,
                                 scheduler=args.scheduler, progress=not args.no_progress,
                                 max_points=args.max_points)
        if args.json:
            print(json.dumps(result.to_dict(), indent=1))
        else:
            print(f"sweep {result.name}: {result.total} points ({len(spec.workloads)} "
                  f"workloads x {len(spec.hardware)} hardware), {result.already_done} already "
                  f"in {result.store}, {result.computed} computed on {result.executor} in "
                  f"{result.seconds:.1f} s, {len(result.failed)} failed, {result.remaining} "
                  f"left, {result.skipped_invalid} invalid combinations skipped")
    if args.export is not None:
        where = dict(_sweep_where(w) for w in args.where or ())
        path = store.export(args.out, args.export, where)
        print(f"wrote {path}", file=sys.stderr if args.json else sys.stdout)
    if args.spec is not None and result.failed:
        trace, params, error = result.failed[0]
        raise AccelsimError(f"{len(result.failed)} point(s) failed (kept in the store's "
                            f"failures table; re-run to retry), first: {trace} {params}: {error}")
    return 0


def _sweep_where(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise AccelsimError(f"--where {text!r} must look like KEY=VALUE (e.g. pass=forward)")
    value = value.strip()
    for convert in (int, float):
        try:
            return key.strip(), convert(value)
        except ValueError:
            pass
    return key.strip(), {"true": True, "false": False}.get(value, value)


def _where(items: Sequence[str] | None) -> dict[str, str]:
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise AccelsimError(f"--where {item!r} must look like KEY=VALUE "
                                "(e.g. backend.kind=tcle)")
        out[key.strip()] = value.strip()
    return out


def cmd_plot(args: argparse.Namespace) -> int:
    from plots.figures import FIGURE_KINDS, plot

    kind = args.kind
    if kind not in FIGURE_KINDS:
        raise AccelsimError(f"unknown figure kind {kind!r}; choose one of "
                            f"{', '.join(FIGURE_KINDS)}")
    options: dict[str, Any] = {}
    if args.title:
        options["title"] = args.title
    if FIGURE_KINDS[kind][1] == "results":
        options["where"] = _where(args.where)
        options["hardware"] = args.hardware
    ignored = []
    if kind in ("sparsity", "layers") and args.passes:
        options["passes"] = tuple(p.strip() for p in args.passes.split(",") if p.strip())
    elif args.passes:
        ignored.append("--passes")
    if kind in ("heatmap", "pareto"):
        options["pass_name"] = args.pass_name
    if kind == "heatmap":
        options["workload"] = args.workload
    elif args.workload:
        ignored.append("--workload")
    if kind == "layers":
        options["gpu"] = args.gpu
    elif args.gpu:
        ignored.append("--gpu")
    if kind == "pareto":
        options["cost"] = args.cost
    if kind == "density" and args.epoch is not None:
        options["epoch"] = args.epoch
    if ignored:
        raise AccelsimError(f"{', '.join(ignored)} does not apply to the {kind} figure")
    plot(kind, args.inputs, args.out, **options)
    print(f"wrote {args.out}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from plots.report import build_report

    path = build_report(args.inputs, args.out, hardware=args.hardware, gpu=args.gpu,
                        title=args.title)
    print(f"wrote {path}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from accelsim.textfmt import table
    from accelsim.validate import validate, write_figures

    result = validate(args.trace, args.gpu_results, args.hardware, step=args.step,
                      baseline=args.baseline)
    figures = write_figures(result, args.out_dir, fmt=args.format)
    if args.json:
        print(json.dumps({**result.to_dict(), "figures": figures}, indent=1))
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


# ---- parser ------------------------------------------------------------------------------------
def _fraction(text: str) -> float:
    from accelsim.sparsity import check_sparsity

    try:
        return check_sparsity(text)
    except AccelsimError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _nonneg_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"{v} must be >= 0")
    return v


def cmd_gpu_bench(args: argparse.Namespace) -> int:
    from accelsim.gpu import bench

    passes = tuple(x.strip() for x in args.passes.split(",") if x.strip())
    baselines = tuple(x.strip() for x in args.baselines.split(",") if x.strip())
    for name, given, allowed in (("--passes", passes, bench.PASSES),
                                 ("--baselines", baselines, bench.BASELINES)):
        bad = [x for x in given if x not in allowed]
        if bad:
            raise AccelsimError(f"{name}: unknown {', '.join(bad)}; choose from "
                                f"{', '.join(allowed)}")
    if (args.trace is None) == (not args.synthetic):
        raise AccelsimError("gpu-bench needs a TRACE_OR_RUN_DIR or --synthetic (not both)")
    from accelsim.gpu.ops import default_device

    device = default_device()
    progress = None if args.quiet else (lambda msg: print(f"gpu-bench: {msg}", file=sys.stderr))
    if args.synthetic:
        shape = bench.SyntheticShape(kind=args.kind, in_channels=args.in_channels,
                                     out_channels=args.out_channels, size=args.size,
                                     kernel=args.kernel, stride=args.stride,
                                     padding=args.padding, batch=args.batch or 32)
        result = bench.bench_synthetic(
            shape, _fractions(args.weight_sparsity), _fractions(args.activation_sparsity),
            passes=passes, reps=args.reps, warmup=args.warmup, baselines=baselines,
            seed=args.seed, device=device, progress=progress)
    else:
        layers = [x for x in (args.layers or "").split(",") if x] or None
        result = bench.bench_trace(args.trace, step=args.step, layers=layers, passes=passes,
                                   batch=args.batch, reps=args.reps, warmup=args.warmup,
                                   baselines=baselines, device=device, progress=progress)
    path = bench.write_json(result, args.out)
    print(f"wrote {path} ({len(result['rows'])} layer-pass rows on {result['environment']['gpu']})")
    return 0


def _fractions(text: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise AccelsimError(f"{text!r} must be comma-separated fractions, e.g. 0.5,0.9") from None
    if not values or any(not 0.0 <= v < 1.0 for v in values):
        raise AccelsimError(f"{text!r}: sparsities must be in [0, 1)")
    return values


def _pos_int(text: str) -> int:
    v = _nonneg_int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"{v} must be >= 1")
    return v


def build_parser() -> argparse.ArgumentParser:
    from workloads.catalog import DATASETS, MODEL_NAMES

    parser = argparse.ArgumentParser(
        prog="accelsim", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Sparse training traces -> FLOPs and cycle-level speedups of a "
                    "Bit-Tactical-style sparse accelerator.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def add(name: str, helptext: str, func) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=helptext, description=helptext,
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        p.set_defaults(func=func)
        return p

    def model_args(p: argparse.ArgumentParser, required: bool = True) -> None:
        p.add_argument("--model", required=required, choices=MODEL_NAMES, metavar="MODEL",
                       help=f"zoo model: {', '.join(MODEL_NAMES)}")
        p.add_argument("--dataset", default="cifar10", metavar="DATASET",
                       help=f"data set whose shapes to use: {', '.join(DATASETS)}")
        p.add_argument("--input-size", type=_pos_int, default=None, metavar="PIXELS",
                       help="override the input size (derives the table from the torch model)")

    p = add("demo", "Main job on the embedded default: train SWAT-U on the digits set, record "
                    "traces, print the last one's sparsity, FLOPs and simulated speedups.",
            cmd_demo)
    p.add_argument("--out", default="runs/demo", help="run directory to write")
    p.add_argument("--model", default="digits-cnn", choices=MODEL_NAMES, metavar="MODEL")
    p.add_argument("--dataset", default="digits",
                   help="digits (trained); with --synthetic any data set's shapes")
    p.add_argument("--method", default="swat-u",
                   help="dense, swat-u, swat-erk, swat-m, acdc (swat-m: not with --synthetic)")
    p.add_argument("--sparsity", type=_fraction, default=0.9)
    p.add_argument("--epochs", type=_pos_int, default=3, help="training epochs")
    p.add_argument("--batch", type=_pos_int, default=4, help="samples recorded per trace")
    p.add_argument("--seed", type=_nonneg_int, default=0)
    p.add_argument("--synthetic", action="store_true",
                   help="no training: write a seeded synthetic trace instead (no torch)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")

    p = add("inspect", "Show what a trace holds: metadata, per layer and pass the operand "
                       "shapes and measured densities.", cmd_inspect)
    p.add_argument("path", metavar="TRACE_OR_RUN_DIR",
                   help="a .trace file, or a run directory (latest trace unless --step)")
    p.add_argument("--step", type=_nonneg_int, default=None, help="pick this step in a run dir")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = add("flops", "Dense and effectual MACs per layer and pass, inference and training "
                     "FLOPs reductions, from a trace (exact) or a (model, method, sparsity) spec.",
            cmd_flops)
    p.add_argument("--trace", default=None, metavar="TRACE_OR_RUN_DIR")
    p.add_argument("--step", type=_nonneg_int, default=None)
    model_args(p, required=False)
    p.add_argument("--method", default=None, help="dense, swat-u, swat-erk, acdc")
    p.add_argument("--sparsity", type=_fraction, default=None, help="target weight sparsity")
    p.add_argument("--activation-sparsity", type=_fraction, default=0.0,
                   help="natural forward activation sparsity (0 = ignore, as SWAT A.3)")
    p.add_argument("--batch", type=_pos_int, default=1)
    p.add_argument("--json", action="store_true")

    p = add("layers", "Layer table of a zoo model: geometry and MACs of every conv/linear "
                      "layer, derived from the model.", cmd_layers)
    model_args(p)
    p.add_argument("--json", action="store_true")

    p = add("synthetic", "Write a seeded synthetic trace for any zoo model (no training).",
            cmd_synthetic)
    model_args(p)
    p.add_argument("--out", required=True, help="trace file to write (.trace)")
    p.add_argument("--method", default=None,
                   help="shape the trace like this method (dense, swat-u, swat-erk, acdc); "
                        "else use the explicit options below")
    p.add_argument("--sparsity", type=_fraction, default=0.9, help="target weight sparsity")
    p.add_argument("--distribution", default="uniform", choices=("uniform", "erk"))
    p.add_argument("--sparse-first-layer", action="store_true",
                   help="sparsify the first layer too (default: dense)")
    p.add_argument("--structure", default="unstructured",
                   choices=("unstructured", "channel", "filter"), help="weight mask structure")
    p.add_argument("--activation-sparsity", type=_fraction, default=0.5,
                   help="zeros in forward input activations (not the first layer)")
    p.add_argument("--clustering", type=float, default=1.0,
                   help="spatial correlation length of activation zeros, pixels (0 = none)")
    p.add_argument("--saved-activation", default="forward", choices=("forward", "topk"),
                   help="activation for backward-weight: as in forward, or Top-K to the "
                        "layer's weight density (SWAT)")
    p.add_argument("--grad-sparsity", type=_fraction, default=0.0)
    p.add_argument("--batch", type=_pos_int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--encoding", default="fixed16", choices=("fixed16", "float16", "float32"))

    p = add("import-dnnsim", "Convert a DNNsim trace directory (trace_params.csv, wgt-*.npy, "
                             "act-*-B.npy) into an accelsim inference trace.", cmd_import_dnnsim)
    p.add_argument("directory")
    p.add_argument("--out", required=True, help="trace file to write")
    p.add_argument("--model", default=None, help="model name to record (default: dir name)")
    p.add_argument("--dataset", default="unknown")
    p.add_argument("--batch-file", type=_nonneg_int, default=0, help="the B of act-LAYER-B.npy")
    p.add_argument("--encoding", default="fixed16", choices=("fixed16", "float16", "float32"))

    p = add("export-dnnsim", "Write a trace's forward operands in DNNsim's layout.",
            cmd_export_dnnsim)
    p.add_argument("trace", metavar="TRACE_OR_RUN_DIR")
    p.add_argument("--out", required=True, help="directory to create")
    p.add_argument("--step", type=_nonneg_int, default=None)
    p.add_argument("--batch-file", type=_nonneg_int, default=0)
    p.add_argument("--force", action="store_true", help="replace an existing directory")

    p = add("simulate", "Simulate a trace (or a synthetic one) on the sparse PE array: per layer "
                        "and pass base/compute/ideal cycles, speedup, utilisation.", cmd_simulate)
    p.add_argument("trace", nargs="?", default=None, metavar="TRACE_OR_RUN_DIR")
    p.add_argument("--hardware", default=None,
                   help="hardware TOML or built-in name (default: bit-tactical T<2,5>; "
                        "'dadiannao' for the dense baseline; 'bit-tactical-tclp', "
                        "'bit-tactical-tcle' for the bit-serial back ends; 'systolic-os-32x32', "
                        "'scnn', 'ideal' for the other array models)")
    p.add_argument("--passes", default="forward,backward_input,backward_weight",
                   help="comma-separated passes to simulate")
    p.add_argument("--step", type=_nonneg_int, default=None)
    p.add_argument("--synthetic", default=None, choices=MODEL_NAMES, metavar="MODEL",
                   help="simulate a synthetic trace of this zoo model instead of a file")
    p.add_argument("--dataset", default="imagenet", help="with --synthetic: shapes to use")
    p.add_argument("--method", default="swat-u", help="with --synthetic: method profile")
    p.add_argument("--sparsity", type=_fraction, default=0.9, help="with --synthetic")
    p.add_argument("--batch", type=_pos_int, default=1, help="with --synthetic")
    p.add_argument("--seed", type=int, default=0, help="with --synthetic")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true")
    fmt.add_argument("--csv", action="store_true")

    p = add("simulate-layer", "Simulate one layer from .npy tensors (conv [out,in,kh,kw] + "
                              "[batch,in,h,w], or linear [out,in] + [batch,in]).",
            cmd_simulate_layer)
    p.add_argument("--weights", required=True, help="W.npy")
    p.add_argument("--activations", required=True, help="A.npy (unpadded)")
    p.add_argument("--output-grad", default=None, help="G.npy: also simulate the backward passes")
    p.add_argument("--stride", type=_pos_int, default=1)
    p.add_argument("--padding", type=_nonneg_int, default=0)
    p.add_argument("--hardware", default=None,
                   help="hardware TOML or built-in name (default: bit-tactical; also dadiannao, "
                        "bit-tactical-tclp, bit-tactical-tcle, systolic-os-32x32, scnn, ideal)")
    p.add_argument("--json", action="store_true")

    p = add("train", "Train a zoo model with a sparse method on digits/CIFAR, writing metrics, "
                     "checkpoints and traces into a run directory (re-running resumes it).",
            cmd_train)
    p.add_argument("--method", default="dense",
                   help="dense, swat-u, swat-erk, swat-m, acdc, ... (`accelsim methods`)")
    p.add_argument("--sparsity", type=_fraction, default=0.9, help="target weight sparsity")
    p.add_argument("--model", default="digits-cnn", choices=MODEL_NAMES, metavar="MODEL",
                   help=f"zoo model: {', '.join(MODEL_NAMES)}")
    p.add_argument("--data", default="digits",
                   help="digits | cifar10:PATH | cifar100:PATH | synthetic[:OPTIONS]")
    p.add_argument("--input-size", type=_pos_int, default=None, metavar="PIXELS",
                   help="resize inputs (e.g. 32 to train ResNet-18 on digits)")
    p.add_argument("--epochs", type=_pos_int, default=10)
    p.add_argument("--batch-size", type=_pos_int, default=64)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--nesterov", action="store_true")
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--lr-schedule", default="cosine", choices=("cosine", "step", "constant"))
    p.add_argument("--warmup-epochs", type=_nonneg_int, default=0)
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--seed", type=_nonneg_int, default=0)
    p.add_argument("--topk-period", type=_pos_int, default=1,
                   help="SWAT: iterations between Top-K threshold recomputes")
    p.add_argument("--weight-topk", default="nchw",
                   choices=("nchw", "chw", "hw", "kernel", "filter"), help="SWAT weight Top-K")
    p.add_argument("--activation-topk", default="nchw", choices=("nchw", "chw", "hw"),
                   help="SWAT activation Top-K")
    for phase in ("warmup", "compressed", "decompressed", "final"):
        p.add_argument(f"--acdc-{phase}", type=_pos_int, default=None, metavar="EPOCHS",
                       help=f"AC/DC {phase} phase length (default: scaled from ImageNet's)")
    p.add_argument("--trace-every", type=_nonneg_int, default=0,
                   help="record a trace every N steps (0: none; also at phase/threshold "
                        "boundaries once N > 0)")
    p.add_argument("--trace-samples", type=_pos_int, default=4, help="samples per trace")
    p.add_argument("--trace-layers", default=None, help="comma-separated layer name patterns")
    p.add_argument("--trace-passes", default="forward,backward_input,backward_weight")
    p.add_argument("--trace-encoding", default="fixed16",
                   choices=("fixed16", "float16", "float32"))
    p.add_argument("--no-trace-boundaries", action="store_true",
                   help="do not record at phase changes and threshold recomputes")
    p.add_argument("--max-steps-per-epoch", type=_pos_int, default=None,
                   help="cut epochs short (quick runs)")
    p.add_argument("--param", action="append", metavar="NAME=VALUE",
                   help="a method parameter (repeatable; `accelsim methods` lists them)")
    p.add_argument("--out", required=True, help="run directory (created; resumed if it exists)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--threads", type=_nonneg_int, default=0,
                   help="torch CPU threads (0: torch's default; 1 is faster for small models "
                        "on a busy machine)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print the final summary as JSON")

    p = add("methods", "List the sparse-training methods with their parameters.", cmd_methods)
    p.add_argument("--json", action="store_true")

    p = add("show-run", "Re-open a training run directory: config, per-epoch metrics, events "
                        "and traces.", cmd_show_run)
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--json", action="store_true")

    p = add("sweep", "Run an architecture sweep (TOML spec: hardware grid x traces/synthetic "
                     "workloads x passes) into a SQLite results store; re-running resumes. "
                     "--export writes the store's rows to .csv or .parquet.", cmd_sweep)
    p.add_argument("spec", nargs="?", default=None, metavar="SPEC.toml",
                   help="sweep spec (see accelsim/sweep.py); optional with --export")
    p.add_argument("--out", required=True, metavar="STORE.sqlite", help="results store")
    p.add_argument("--workers", type=_pos_int, default=None,
                   help="local worker processes (default: all cores; 1 = in this process)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run on this Dask distributed scheduler (e.g. tcp://host:8786)")
    p.add_argument("--max-points", type=_nonneg_int, default=None,
                   help="compute at most N points now (the rest on a later run)")
    p.add_argument("--export", default=None, metavar="FILE",
                   help="after the run (or alone), export the rows to FILE.csv / FILE.parquet")
    p.add_argument("--where", action="append", metavar="KEY=VALUE",
                   help="with --export: keep matching rows only (repeatable), e.g. "
                        "pass=forward, layer=*total*, frontend.lookahead=2")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the run summary as JSON")

    add("models", "List the zoo's models, data sets and methods.", cmd_models)

    p = add("plot", "Draw one figure (PNG or SVG, by --out's extension). KIND: sparsity "
                    "(speedup vs sparsity per pass, one line per architecture), heatmap "
                    "(speedup over lookahead x lookaside), layers (per-layer speedups, GPU "
                    "beside with --gpu), pareto (speedup vs area/energy), training (curves of "
                    "a run directory), density (per-layer density and DNR of a run).",
            cmd_plot)
    p.add_argument("kind", metavar="KIND",
                   help="sparsity | heatmap | layers | pareto | training | density")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="results: a SQLite store, CSV, report JSON (`simulate --json`), trace "
                        "or run directory (simulated); training/density: a run directory")
    p.add_argument("--out", required=True, help="figure file to write (.png or .svg)")
    p.add_argument("--hardware", default=None,
                   help="hardware for inputs that are traces or run directories")
    p.add_argument("--where", action="append", metavar="KEY=VALUE",
                   help="keep only result rows with this column value (repeatable), e.g. "
                        "backend.kind=tcle or hardware_digest=PREFIX")
    p.add_argument("--passes", default=None,
                   help="sparsity/layers: comma-separated passes (default: all three)")
    p.add_argument("--pass", dest="pass_name", default="training_step",
                   choices=("forward", "backward_input", "backward_weight", "backward",
                            "training_step"), help="heatmap/pareto: the pass(es) to sum")
    p.add_argument("--workload", default=None,
                   help="heatmap: the workload (trace, digest or label) when there are several")
    p.add_argument("--gpu", default=None, metavar="GPU.json",
                   help='layers: measured GPU speedups {"layers": [{"layer", "pass", '
                        '"speedup"}]}')
    p.add_argument("--cost", default="both", choices=("area", "energy", "both"),
                   help="pareto: cost axis")
    p.add_argument("--epoch", type=_pos_int, default=None,
                   help="density: epoch to show (1-based; default the last)")
    p.add_argument("--title", default=None, help="figure title")

    p = add("report", "Write one self-contained HTML page (inline figures, no external "
                      "assets) for a training run directory (metrics, and its latest trace "
                      "simulated) or for simulation results (store, CSV, JSON, traces).",
            cmd_report)
    p.add_argument("inputs", nargs="+", metavar="RUN_OR_RESULTS")
    p.add_argument("--out", required=True, help="HTML file to write")
    p.add_argument("--hardware", default=None,
                   help="hardware to simulate traces on (default: bit-tactical T<2,5>)")
    p.add_argument("--gpu", default=None, metavar="GPU.json",
                   help="measured GPU speedups to compare with the simulated ones")
    p.add_argument("--title", default=None, help="page title")
    p = add("validate", "Simulated vs measured: join the simulated speedups of a trace with the "
                        "GPU speedups of `accelsim gpu-bench` per layer and pass; print the "
                        "table, Spearman rank correlation and geometric-mean ratio "
                        "measured/simulated; write validation-scatter and validation-layers "
                        "figures.", cmd_validate)
    p.add_argument("--trace", required=True, metavar="TRACE_OR_RUN_DIR",
                   help="the trace the GPU results were measured on (a run dir: latest trace)")
    p.add_argument("--gpu-results", required=True, metavar="RESULTS.json",
                   help='`accelsim gpu-bench` JSON, or {"layers": [{"layer", "pass", '
                        '"speedup"}]}')
    p.add_argument("--hardware", default=None,
                   help="hardware TOML or built-in name (default: bit-tactical T<2,5>)")
    p.add_argument("--step", type=_nonneg_int, default=None, help="trace step in a run directory")
    p.add_argument("--baseline", default="dense_fp32",
                   choices=("dense_fp32", "dense_tf32", "dense_bf16", "cusparse_csr", "semi_24"),
                   help="dense GPU baseline the measured speedups are over; a minimal "
                        "{\"layers\": ...} file has dense_fp32 only")
    p.add_argument("--out-dir", default=".", metavar="DIR",
                   help="where to write validation-scatter.FMT and validation-layers.FMT")
    p.add_argument("--format", default="png", choices=("png", "svg"), help="figure format")
    p.add_argument("--json", action="store_true",
                   help="print the joined rows and statistics as JSON ('wrote' lines on stderr)")
    p = add("gpu-bench", "Time the sparse Triton kernels against cuDNN/cuBLAS (fp32, TF32, "
                         "bf16), cuSPARSE CSR and 2:4 on every layer and pass of a trace with "
                         "its real masks, or on a synthetic sparsity sweep (needs an NVIDIA GPU, "
                         "a CUDA build of torch and triton; TRITON_INTERPRET=1 runs it on CPU "
                         "as a plumbing check).", cmd_gpu_bench)
    p.add_argument("trace", nargs="?", default=None, metavar="TRACE_OR_RUN_DIR")
    p.add_argument("--out", required=True, metavar="RESULTS.json")
    p.add_argument("--step", type=_nonneg_int, default=None, help="trace step in a run directory")
    p.add_argument("--layers", default=None, help="comma-separated layer name patterns")
    p.add_argument("--passes", default="forward,backward_input,backward_weight")
    p.add_argument("--baselines", default="dense_fp32,dense_tf32,dense_bf16,cusparse_csr,semi_24")
    p.add_argument("--batch", type=_pos_int, default=None,
                   help="trace: repeat the recorded samples to this batch; synthetic: batch "
                        "(default 32)")
    p.add_argument("--reps", type=_pos_int, default=50,
                   help="timed repetitions (>= 50 on a GPU)")
    p.add_argument("--warmup", type=_nonneg_int, default=3)
    p.add_argument("--synthetic", action="store_true", help="sweep a synthetic layer instead")
    p.add_argument("--kind", default="conv", choices=("conv", "linear"))
    p.add_argument("--in-channels", type=_pos_int, default=256)
    p.add_argument("--out-channels", type=_pos_int, default=64)
    p.add_argument("--size", type=_pos_int, default=56, help="input height = width")
    p.add_argument("--kernel", type=_pos_int, default=1)
    p.add_argument("--stride", type=_pos_int, default=1)
    p.add_argument("--padding", type=_nonneg_int, default=0)
    p.add_argument("--weight-sparsity", default="0.5,0.8,0.9,0.95")
    p.add_argument("--activation-sparsity", default="0.0,0.5,0.7,0.9")
    p.add_argument("--seed", type=_nonneg_int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except AccelsimError as exc:
        print(f"accelsim {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"accelsim {args.command}: error: {exc.filename}: no such file or directory",
              file=sys.stderr)
        return 2
    except PermissionError as exc:
        print(f"accelsim {args.command}: error: {exc.filename}: permission denied",
              file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `accelsim flops --json | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(f"accelsim {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
