"""The ``accelsim`` dispatcher: parse, run, turn errors into one line and exit status 2.

The dispatcher knows every subcommand's name, group module and one-line summary from
:data:`COMMANDS`, so ``accelsim --help`` lists them all without importing any group; only the
chosen subcommand's group module (and with it the rooms it wires together: training, plots,
workloads) is imported, to add its arguments and run it.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Iterable, Sequence

from accelsim import __version__
from accelsim.cli.options import Command, HelpFormatter, Parser
from accelsim.errors import AccelsimError
from accelsim.fileio import describe_os_error

#: subcommand -> (group module under accelsim.cli, one-line summary), in --help order
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("cmd_runs", "train SWAT-U on digits -> trace -> FLOPs -> simulated speedups"),
    "models": ("cmd_runs", "list the zoo's models, data sets and methods"),
    "methods": ("cmd_runs", "list the sparse-training methods and their parameters"),
    "train": ("cmd_train", "train a zoo model sparsely into a run directory (resumable)"),
    "show-run": ("cmd_runs", "re-open a run directory: config, metrics, events, traces"),
    "layers": ("cmd_traces", "layer table of a zoo model: geometry and MACs"),
    "synthetic": ("cmd_traces", "write a seeded synthetic trace for a zoo model"),
    "profile": ("cmd_traces", "fit a value profile for synthetic traces from a training run"),
    "inspect": ("cmd_traces", "show a trace's metadata, operand shapes and densities"),
    "flops": ("cmd_traces", "dense and effectual MACs of a trace or a (model, method) spec"),
    "import-dnnsim": ("cmd_traces", "convert a DNNsim trace directory into a trace"),
    "export-dnnsim": ("cmd_traces", "write a trace's forward operands in DNNsim's layout"),
    "simulate": ("cmd_simulate", "simulate a trace on the sparse PE array: cycles, speedups"),
    "simulate-layer": ("cmd_simulate", "simulate one layer from .npy tensors"),
    "compare": ("cmd_compare", "compare machines on one trace: time, energy, area, perf/W"),
    "warm": ("cmd_simulate", "compile the kernels into the user's cache (fast first call)"),
    "sweep": ("cmd_explore", "run an architecture sweep into a results store; export it"),
    "plot": ("cmd_figures", "draw one figure (PNG or SVG) of results or a run"),
    "report": ("cmd_figures", "write a self-contained HTML report of a run or results"),
    "validate": ("cmd_figures", "simulated vs GPU-measured speedups per layer and pass"),
    "gpu-bench": ("cmd_gpu", "time the sparse Triton kernels against cuDNN/cuBLAS baselines"),
}

DESCRIPTION = ("Sparse training traces -> FLOPs and cycle-level speedups of a "
               "Bit-Tactical-style sparse accelerator.")

EPILOG = """\
examples:
  accelsim demo                                  train SWAT-U on digits -> trace -> FLOPs -> cycles
  accelsim train --method swat-u --sparsity 0.9 --epochs 20 --trace-every 50 --out runs/swat
  accelsim layers --model resnet50 --dataset imagenet
  accelsim flops --model resnet50 --dataset imagenet --method swat-u --sparsity 0.8
  accelsim synthetic --model resnet18 --method swat-u --sparsity 0.9 --out r18.trace
  accelsim profile runs/swat --out swat-profile.json
  accelsim inspect r18.trace --json
  accelsim flops r18.trace
  accelsim simulate r18.trace --passes forward,backward-input
  accelsim compare r18.trace --hardware bit-tactical,bit-tactical-tcle,scnn,ideal
  accelsim export-dnnsim r18.trace --out dnnsim/resnet18
  accelsim plot training runs/swat --out curves.svg
  accelsim report runs/swat --out report.html
  accelsim sweep sweep.toml --out results.sqlite --export results.parquet
  accelsim validate r18.trace --gpu-results gpu.json --out validation
"""


class _TopHelpFormatter(argparse.RawDescriptionHelpFormatter, HelpFormatter):
    """Keeps the examples' line breaks."""


def load_command(name: str) -> Command:
    """Import the group module of subcommand ``name`` and return its :class:`Command`."""
    group, _ = COMMANDS[name]
    return importlib.import_module(f"accelsim.cli.{group}").COMMANDS[name]


def build_parser(commands: Iterable[str] | None = None) -> Parser:
    """The ``accelsim`` parser with the arguments of ``commands`` (default: all of them; the
    others are listed in ``--help`` but take no arguments, and their groups are not
    imported)."""
    parser = Parser(prog="accelsim", description=DESCRIPTION, epilog=EPILOG,
                    formatter_class=_TopHelpFormatter)
    parser.add_argument("--version", action="version", version=f"accelsim {__version__}",
                        help="print the version and exit")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress or info lines (also accepted after the subcommand)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    chosen = set(COMMANDS if commands is None else commands)
    for name, (_, summary) in COMMANDS.items():
        if name not in chosen:
            sub.add_parser(name, help=summary, add_help=False)
            continue
        command = load_command(name)
        p = sub.add_parser(name, help=summary, description=command.description,
                           formatter_class=HelpFormatter)
        p.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS,
                       help="no progress or info lines")
        command.add_arguments(p)
        p.set_defaults(run=command.run)
    return parser


def _chosen(argv: Sequence[str]) -> list[str]:
    """The subcommand named in ``argv``: its first word that is not an option (the global
    options take no value)."""
    for word in argv:
        if not word.startswith("-"):
            return [word] if word in COMMANDS else []
    return []


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``accelsim ARGV``; returns the exit status (0, or 2 for bad input, one line on
    stderr).  Usage errors and ``--help``/``--version`` exit through ``SystemExit``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(_chosen(argv)).parse_args(argv)
    name = args.command
    try:
        return args.run(args)
    except AccelsimError as exc:
        message = str(exc)
    except BrokenPipeError:  # e.g. `accelsim flops TRACE --json | head`
        sys.stderr.close()
        return 0
    except OSError as exc:
        message = describe_os_error(exc)
    except KeyboardInterrupt:
        print(f"accelsim {name}: interrupted", file=sys.stderr)
        return 130
    print(f"accelsim {name}: error: {message}", file=sys.stderr)
    return 2
