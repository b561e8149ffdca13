"""Simulation subcommands: simulate (a trace, or a synthetic one) and simulate-layer."""

from __future__ import annotations

import argparse
import time

from accelsim import api
from accelsim.cli import options as o
from accelsim.cli.printing import print_json, print_layer_passes, print_simulation
from accelsim.cli.wiring import derive_layer_table
from accelsim.errors import AccelsimError
from accelsim.kernels import cache_dir
from accelsim.spec.hardware import load_hardware


def add_warm(p: argparse.ArgumentParser) -> None:
    o.add_threads(p)


def run_warm(args: argparse.Namespace) -> int:
    """Compile the kernels into the cache (``make demo`` and ``make install`` run this)."""
    t0 = time.perf_counter()
    times = api.warm_kernels(threads=args.threads)
    if not args.quiet:
        for name, seconds in times.items():
            print(f"{name:34s} {seconds:6.2f} s")
        print(f"kernel cache {cache_dir()} warm in {time.perf_counter() - t0:.1f} s")
    return 0


def add_simulate(p: argparse.ArgumentParser) -> None:
    o.add_trace(p, optional=True)
    o.add_hardware(p)
    o.add_reference(p)
    o.add_passes(p, help="passes to simulate")
    p.add_argument("--synthetic", default=None, choices=o.MODEL_NAMES, metavar="MODEL",
                   help="simulate a synthetic trace of this zoo model instead of a file")
    o.add_dataset(p, help="with --synthetic: data set whose shapes to use")
    o.add_method(p, "swat-u", "with --synthetic: method profile")
    o.add_sparsity(p, help="with --synthetic: target weight sparsity")
    o.add_batch(p, "with --synthetic: samples per batch")
    o.add_seed(p, "with --synthetic: random seed")
    o.add_threads(p)
    fmt = p.add_mutually_exclusive_group()
    o.add_json(fmt)
    fmt.add_argument("--csv", action="store_true", help="print CSV rows instead of a table")


def run_simulate(args: argparse.Namespace) -> int:
    passes = o.parse_passes(args.passes)
    hw, ref = load_hardware(args.hardware), load_hardware(args.reference)
    if args.synthetic and args.trace:
        raise AccelsimError("simulate takes a TRACE_OR_RUN_DIR or --synthetic MODEL, not both")
    if args.synthetic:
        report = api.simulate_synthetic(args.synthetic, hw, dataset=args.dataset,
                                        method=args.method, sparsity=args.sparsity,
                                        batch=args.batch, seed=args.seed, passes=passes,
                                        derive=derive_layer_table, reference=ref,
                                        threads=args.threads)
    elif args.trace:
        report = api.simulate_trace(args.trace, hw, passes=passes, step=args.step,
                                    reference=ref, threads=args.threads)
    else:
        raise AccelsimError("simulate needs a TRACE_OR_RUN_DIR or --synthetic MODEL")
    if args.json:
        print_json(report.to_dict())
    elif args.csv:
        print(report.to_csv(), end="")
    else:
        print_simulation(report)
    return 0


def add_simulate_layer(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", required=True, metavar="W.npy",
                   help="weights: conv [out, in, kh, kw] or linear [out, in]")
    p.add_argument("--activations", required=True, metavar="A.npy",
                   help="input activations, unpadded: conv [batch, in, h, w] or linear "
                        "[batch, in]")
    p.add_argument("--output-grad", default=None, metavar="G.npy",
                   help="output gradient: also simulate the backward passes")
    p.add_argument("--stride", type=o.pos_int, default=1, help="conv stride")
    p.add_argument("--padding", type=o.nonneg_int, default=0, help="conv zero padding")
    o.add_hardware(p)
    o.add_reference(p)
    o.add_threads(p)
    o.add_json(p)


def run_simulate_layer(args: argparse.Namespace) -> int:
    result = api.simulate_layer_files(args.weights, args.activations, output_grad=args.output_grad,
                                      stride=args.stride, padding=args.padding,
                                      hardware=load_hardware(args.hardware),
                                      reference=load_hardware(args.reference),
                                      threads=args.threads)
    if args.json:
        print_json(result.to_dict())
    else:
        print_layer_passes(result.to_dict())
    return 0


COMMANDS: dict[str, o.Command] = {
    "simulate": o.Command("Simulate a trace (or a synthetic one) on the sparse PE array: per "
                          "layer and pass base/compute/ideal cycles, time, speedup and energy "
                          "efficiency against the reference machine (--reference, default "
                          "dadiannao), energy with its breakdown, utilisation; the area.",
                          add_simulate, run_simulate),
    "warm": o.Command("Compile the simulator's numba kernels into the user's cache "
                      "(NUMBA_CACHE_DIR, default ~/.cache/accelsim/numba), so that the first "
                      "simulation starts fast.", add_warm, run_warm),
    "simulate-layer": o.Command("Simulate one layer from .npy tensors (conv [out,in,kh,kw] + "
                                "[batch,in,h,w], or linear [out,in] + [batch,in]).",
                                add_simulate_layer, run_simulate_layer),
}
