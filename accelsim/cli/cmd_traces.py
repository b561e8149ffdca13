"""Trace subcommands: inspect, flops, layers, synthetic, profile, import-dnnsim, export-dnnsim."""

from __future__ import annotations

import argparse
from typing import Any

from accelsim import api
from accelsim.cli import options as o
from accelsim.cli.printing import fmt_count, print_flops, print_json, print_summary, table
from accelsim.cli.wiring import derive_layer_table
from accelsim.errors import AccelsimError
from accelsim.fileio import check_file_target
from accelsim.trace import find_trace
from accelsim.trace.dnnsim import export_dnnsim, import_dnnsim
from accelsim.trace.profile import write_profile
from accelsim.trace.profile_fit import fit_profile


def add_inspect(p: argparse.ArgumentParser) -> None:
    o.add_trace(p)
    p.add_argument("--deep", action="store_true",
                   help="decode every tensor of every layer and check its mask and values "
                        "(without it: members present, sizes as the manifest says)")
    o.add_json(p)


def run_inspect(args: argparse.Namespace) -> int:
    summary = api.inspect_trace(args.trace, args.step, deep=args.deep)
    if args.json:
        print_json({**summary, "checked": "deep" if args.deep else "members"})
    else:
        print_summary(summary)
        print("checked: " + ("every tensor decoded; masks and values consistent" if args.deep
                             else "every member present with the manifest's sizes "
                                  "(--deep decodes and checks every tensor)"))
    return 0


def add_flops(p: argparse.ArgumentParser) -> None:
    o.add_trace(p, optional=True, help="a .trace file or run directory (exact counts); "
                                       "without it, the spec given by --model/--method/--sparsity")
    o.add_workload(p, required=False)
    o.add_method(p, None, "spec: dense, swat-u, swat-erk, acdc (`accelsim models`)")
    o.add_sparsity(p, None, "spec: target weight sparsity")
    p.add_argument("--activation-sparsity", type=o.fraction, default=0.0,
                   help="spec: natural forward activation sparsity (0 = ignore, as SWAT A.3)")
    o.add_batch(p, "spec: samples per batch")
    o.add_json(p)


def run_flops(args: argparse.Namespace) -> int:
    if args.trace:
        o.unused({"--model": args.model, "--method": args.method, "--sparsity": args.sparsity,
                  "--input-size": args.input_size}, "a trace (its counts are exact)")
        report = api.flops_of_trace(args.trace, args.step)
    else:
        missing = [f"--{n}" for n in ("model", "method", "sparsity") if getattr(args, n) is None]
        if missing:
            raise AccelsimError(f"flops needs a TRACE_OR_RUN_DIR, or {', '.join(missing)} "
                                "(e.g. --model resnet50 --dataset imagenet --method swat-u "
                                "--sparsity 0.8)")
        report = api.flops_of_spec(args.model, args.dataset, args.method, args.sparsity,
                                   activation_sparsity=args.activation_sparsity,
                                   batch=args.batch, input_size=args.input_size,
                                   derive=derive_layer_table)
    if args.json:
        print_json(report.to_dict())
    else:
        print_flops(report)
    return 0


def add_layers(p: argparse.ArgumentParser) -> None:
    o.add_workload(p)
    o.add_json(p)


def run_layers(args: argparse.Namespace) -> int:
    layers = api.layer_table(args.model, args.dataset, args.input_size,
                             derive=derive_layer_table)
    if args.json:
        print_json([g.to_dict() for g in layers])
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


def add_synthetic(p: argparse.ArgumentParser) -> None:
    o.add_workload(p)
    o.add_out(p, "trace file to write (.trace)", "TRACE")
    o.add_method(p, None, "shape the trace like this method (dense, swat-u, swat-erk, acdc); "
                          "else use the explicit options below")
    o.add_sparsity(p)
    p.add_argument("--distribution", default="uniform", choices=("uniform", "erk"),
                   help="how the weight sparsity is spread over the layers")
    p.add_argument("--sparse-first-layer", action="store_true",
                   help="sparsify the first layer too (by default it stays dense)")
    p.add_argument("--structure", default="unstructured",
                   choices=("unstructured", "channel", "filter"), help="weight mask structure")
    p.add_argument("--profile", default="shipped", metavar="FILE|shipped|none",
                   help="value profile the values and zero structure are drawn from: the "
                        "shipped one fitted on real runs (default), a file of `accelsim "
                        "profile`, or none (the uncalibrated generator)")
    p.add_argument("--activation-sparsity", type=o.fraction, default=None,
                   help="zeros in forward input activations, not the first layer (default: "
                        "the profile's per layer; 0.5 with --profile none)")
    p.add_argument("--clustering", type=float, default=None,
                   help="spatial correlation length of activation zeros, pixels, 0 = none "
                        "(default: the profile's per layer; 1.0 with --profile none)")
    p.add_argument("--saved-activation", default="forward", choices=("forward", "topk"),
                   help="activation for backward-weight: as in forward, or Top-K to the "
                        "layer's weight density (SWAT)")
    p.add_argument("--grad-sparsity", type=o.fraction, default=None,
                   help="zeros in the output gradients (default: the profile's per layer; "
                        "0 with --profile none)")
    o.add_batch(p, "samples in the trace")
    o.add_seed(p)
    o.add_encoding(p)


def run_synthetic(args: argparse.Namespace) -> int:
    fields: dict[str, Any] = {"model": args.model, "dataset": args.dataset, "batch": args.batch,
                              "activation_sparsity": args.activation_sparsity,
                              "activation_clustering": args.clustering,
                              "weight_structure": args.structure, "seed": args.seed,
                              "grad_sparsity": args.grad_sparsity,
                              "input_size": args.input_size, "profile": args.profile}
    if args.method:
        fields.update(method=args.method, sparsity=args.sparsity)
    else:
        fields.update(weight_sparsity=args.sparsity, distribution=args.distribution,
                      first_layer_dense=not args.sparse_first_layer,
                      saved_activation=args.saved_activation)
    path = api.synthetic_trace(args.out, encoding=args.encoding, derive=derive_layer_table,
                               **fields)
    print(f"wrote {path}")
    return 0


def add_profile(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="RUN_DIR_OR_TRACE",
                   help="a training run directory (all its traces) or one .trace file; the "
                        "traces must hold the three passes")
    o.add_step(p)
    p.add_argument("--min-step", type=o.nonneg_int, default=0,
                   help="fit on the run's traces from this training step on (e.g. skip the "
                        "step-0 trace of the freshly initialised network)")
    o.add_out(p, "profile file to write (JSON; read by `accelsim synthetic --profile`)",
              "FILE")
    o.add_seed(p)


def run_profile(args: argparse.Namespace) -> int:
    out = check_file_target(args.out)
    profile = fit_profile(args.source, args.step, min_step=args.min_step, seed=args.seed)
    path = write_profile(profile, out)
    print(f"wrote {path} ({len(profile.layers)} layers of {profile.model}/{profile.dataset}, "
          f"{profile.method}, from {len(profile.source['steps'])} trace(s))")
    return 0


def add_import_dnnsim(p: argparse.ArgumentParser) -> None:
    p.add_argument("directory", metavar="DIR",
                   help="DNNsim trace directory (trace_params.csv, wgt-*.npy, act-*-B.npy)")
    o.add_out(p, "trace file to write", "TRACE")
    p.add_argument("--model", default=None,
                   help="model name to record in the trace (default: the directory's name)")
    p.add_argument("--dataset", default="unknown", help="data set name to record in the trace")
    p.add_argument("--batch-file", type=o.nonneg_int, default=0,
                   help="the B of act-LAYER-B.npy to read")
    o.add_encoding(p)


def run_import_dnnsim(args: argparse.Namespace) -> int:
    path = import_dnnsim(args.directory, args.out, model=args.model, dataset=args.dataset,
                         batch_file=args.batch_file, encoding=args.encoding)
    print(f"wrote {path}")
    return 0


def add_export_dnnsim(p: argparse.ArgumentParser) -> None:
    o.add_trace(p)
    o.add_out(p, "directory to create", "DIR")
    p.add_argument("--batch-file", type=o.nonneg_int, default=0,
                   help="the B of the act-LAYER-B.npy files to write")
    p.add_argument("--force", action="store_true", help="replace an existing directory")


def run_export_dnnsim(args: argparse.Namespace) -> int:
    path = export_dnnsim(find_trace(args.trace, args.step), args.out,
                         batch_file=args.batch_file, overwrite=args.force)
    print(f"wrote {path}")
    return 0


COMMANDS: dict[str, o.Command] = {
    "inspect": o.Command("Show what a trace holds: metadata, per layer and pass the operand "
                         "shapes and measured densities.", add_inspect, run_inspect),
    "flops": o.Command("Dense and effectual MACs per layer and pass, inference and training "
                       "FLOPs reductions, from a trace (exact) or a (model, method, sparsity) "
                       "spec.", add_flops, run_flops),
    "layers": o.Command("Layer table of a zoo model: geometry and MACs of every conv/linear "
                        "layer, derived from the model.", add_layers, run_layers),
    "synthetic": o.Command("Write a seeded synthetic trace for any zoo model (no training).",
                           add_synthetic, run_synthetic),
    "profile": o.Command("Fit a value profile from the traces of a training run: per layer and "
                         "operand role the log2-magnitude histograms (per channel, per pixel), "
                         "signs, densities, per-channel densities and zero clustering, for "
                         "`accelsim synthetic --profile FILE`.", add_profile, run_profile),
    "import-dnnsim": o.Command("Convert a DNNsim trace directory (trace_params.csv, wgt-*.npy, "
                               "act-*-B.npy) into an accelsim inference trace.",
                               add_import_dnnsim, run_import_dnnsim),
    "export-dnnsim": o.Command("Write a trace's forward operands in DNNsim's layout.",
                               add_export_dnnsim, run_export_dnnsim),
}
