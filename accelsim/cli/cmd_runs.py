"""Light subcommands around training runs: demo, models, methods, show-run.

None of them loads torch except ``demo`` without ``--synthetic``, which trains through
:func:`accelsim.cli.wiring.train_demo` (it imports :mod:`training.loop` inside the function, so
that ``demo --synthetic`` stays torch-free).  ``methods`` reads the torch-free method registry (:mod:`training.registry`),
``show-run`` the run directory through :mod:`accelsim.rundir`.
"""

from __future__ import annotations

import argparse

from accelsim import api
from accelsim.cli import options as o
from accelsim.cli.printing import pct, print_flops, print_json, print_simulation, print_summary
from accelsim.cli.wiring import derive_layer_table, train_demo
from accelsim.networks.catalog import CIFAR_ONLY, DATASETS, MODEL_NAMES
from accelsim.rundir import read_run
from accelsim.spec.methods import METHOD_PROFILES
from training.registry import methods


# ---- demo -------------------------------------------------------------------------------------
def add_demo(p: argparse.ArgumentParser) -> None:
    o.add_out(p, "run directory to write", "RUN_DIR", default="runs/demo")
    o.add_model(p, required=False, default="digits-cnn")
    o.add_dataset(p, "digits", "digits when training; with --synthetic any data set's shapes")
    o.add_method(p, "swat-u", "dense, swat-u, swat-erk, swat-m, acdc (swat-m: not with "
                              "--synthetic)")
    o.add_sparsity(p)
    p.add_argument("--epochs", type=o.pos_int, default=3, help="training epochs")
    o.add_batch(p, "samples recorded per trace", default=4)
    o.add_seed(p)
    p.add_argument("--synthetic", action="store_true",
                   help="no training: write a seeded synthetic trace instead (no torch)")


def run_demo(args: argparse.Namespace) -> int:
    result = api.demo(args.out, model=args.model, dataset=args.dataset, method=args.method,
                      sparsity=args.sparsity, epochs=args.epochs, batch=args.batch,
                      seed=args.seed, synthetic=args.synthetic, progress=not args.quiet,
                      log=o.progress_log(args), trainer=train_demo, derive=derive_layer_table)
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
          f"{pct(result.spec_flops.inference_flops_reduction)}, training "
          f"{pct(result.spec_flops.training_flops_reduction)}")
    print("\n== simulated on the Bit-Tactical T<2,5> array (16 tiles x 16 rows x 16 lanes)\n")
    print_simulation(result.simulation)
    print(f"\nnext: accelsim inspect {args.out}   |   accelsim simulate {args.out} --csv")
    return 0


# ---- listings ---------------------------------------------------------------------------------
def run_models(args: argparse.Namespace) -> int:
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


def run_methods(args: argparse.Namespace) -> int:
    registry = methods()
    if args.json:
        print_json({name: m.to_dict() for name, m in registry.items()})
        return 0
    for name, m in registry.items():
        print(f"{name:14s} {m.summary}  [{m.source}]")
        for p in m.params:
            choices = f" ({'|'.join(p.choices)})" if p.choices else ""
            print(f"{'':16s}--param {p.name}={p.default!r}{choices}: {p.help}")
    return 0


def add_show_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="the --out of an `accelsim train` run")
    o.add_json(p)


def run_show_run(args: argparse.Namespace) -> int:
    run = read_run(args.run_dir)
    if args.json:
        print_json({k: v for k, v in run.to_dict().items() if k != "summary"})
        return 0
    c = run.config
    print(f"run {run.path}: {c.get('method')} at sparsity {c.get('sparsity')} on "
          f"{c.get('model')}/{c.get('data')}, {len(run.metrics)}/{c.get('epochs')} epochs"
          f"{'' if run.finished else ' (unfinished)'}")
    for m in run.metrics:
        act = (m["activation_density"]["train"] or m["activation_density"]["test"])["overall"]
        print(f"  epoch {m['epoch'] + 1:3d}{' ' + m['phase'] if m.get('phase') else ''}: test "
              f"acc {m['test']['accuracy']:.4f} loss {m['test']['loss']:.4f}, weight density "
              f"{m['weight_density']['overall']:.3f}, activation density {act:.3f}")
    print(f"  {len(run.events)} sparsifier events, {len(run.traces)} traces"
          + (f" (latest {run.traces[-1].name})" if run.traces else ""))
    return 0


COMMANDS: dict[str, o.Command] = {
    "demo": o.Command("Main job on the embedded default: train SWAT-U on the digits set, record "
                      "traces, print the last one's sparsity, FLOPs and simulated speedups.",
                      add_demo, run_demo),
    "models": o.Command("List the zoo's models, data sets and methods.", lambda p: None,
                        run_models),
    "methods": o.Command("List the sparse-training methods with their parameters.", o.add_json,
                         run_methods),
    "show-run": o.Command("Re-open a training run directory: config, per-epoch metrics, events "
                          "and traces.", add_show_run, run_show_run),
}
