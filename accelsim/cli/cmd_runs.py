"""Light subcommands around training runs: demo, models, methods, show-run.

None of them loads torch except ``demo`` without ``--synthetic``, which trains: that one
imports :mod:`training.loop` inside :func:`train_demo` so that ``demo --synthetic`` stays
torch-free.  ``methods`` and ``show-run`` reach the method registry and the run directory
through :func:`method_registry` and :func:`open_run` below: one import line each to swap
for the torch-free registry listing and :mod:`accelsim.rundir`.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accelsim import api
from accelsim.cli import options as o
from accelsim.cli.printing import pct, print_flops, print_json, print_simulation, print_summary
from accelsim.errors import ConfigError
from accelsim.flops import FlopReport
from accelsim.methods import METHOD_PROFILES
from accelsim.simulate import Report
from workloads.catalog import CIFAR_ONLY, DATASETS, MODEL_NAMES


def method_registry() -> dict[str, Any]:
    """name -> method spec (summary, source, uses_sparsity, params) of every training method."""
    from training.methods import methods  # loads torch today: the torch-free listing replaces it

    return methods()


def open_run(run_dir: str) -> Any:
    """The records of a run directory (config, metrics, events, traces; no model)."""
    from training.loop import open_run as _open  # loads torch today: accelsim.rundir replaces it

    return _open(run_dir)


# ---- demo -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DemoResult:
    """What the demo computed: the trace used, its summary, its exact FLOPs, the spec's FLOPs,
    its simulation on the default array, and the training run (None with ``--synthetic``)."""

    trace_path: Path
    summary: dict[str, Any]
    trace_flops: FlopReport
    spec_flops: FlopReport
    simulation: Report
    training: Any = None


def train_demo(args: argparse.Namespace) -> Any:
    """Train ``args.model`` with ``args.method`` on the embedded digits set, a trace every 20
    steps of ``args.batch`` samples (imports training, hence torch, here only)."""
    from training.loop import TrainConfig, train

    if args.dataset != "digits":
        raise ConfigError(f"the demo trains on the embedded digits set, not {args.dataset!r}; "
                          "use `accelsim train --data ...` for other data, or --synthetic")
    config = TrainConfig(method=args.method, sparsity=args.sparsity, model=args.model,
                         data="digits", epochs=args.epochs, seed=args.seed, trace_every=20,
                         trace_samples=args.batch)
    trained = train(config, args.out, progress=not args.quiet, log=o.progress_log(args))
    if not trained.traces:
        raise ConfigError(f"the demo run {args.out} recorded no trace")
    return trained


def run_demo_chain(args: argparse.Namespace) -> DemoResult:
    """Train (or write a synthetic trace), then inspect, count FLOPs and simulate the trace."""
    if args.synthetic:
        path = api.synthetic_trace(Path(args.out) / "traces" / "step-00000000.trace",
                                   model=args.model, dataset=args.dataset, method=args.method,
                                   sparsity=args.sparsity, batch=args.batch, seed=args.seed)
        trained = None
    else:
        trained = train_demo(args)
        path = trained.traces[-1]
    return DemoResult(path, api.inspect_trace(path), api.flops_of_trace(path),
                      api.flops_of_spec(args.model, args.dataset, args.method, args.sparsity,
                                        batch=args.batch),
                      api.simulate_trace(path), trained)


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
    result = run_demo_chain(args)
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
    registry = method_registry()
    if args.json:
        print_json({name: {"summary": m.summary, "source": m.source,
                           "uses_sparsity": m.uses_sparsity,
                           "params": [{"name": p.name, "type": p.kind.__name__,
                                       "default": p.default, "help": p.help,
                                       "choices": list(p.choices)} for p in m.params]}
                    for name, m in registry.items()})
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
    run = open_run(args.run_dir)
    if args.json:
        print_json({"run_dir": str(run.run_dir), "config": run.config.to_dict(),
                    "finished": run.finished, "metrics": run.metrics, "events": run.events,
                    "traces": [str(t) for t in run.traces]})
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
