"""The compare subcommand: several machines on one trace, against one reference."""

from __future__ import annotations

import argparse

from accelsim import api
from accelsim.cli import options as o
from accelsim.cli.printing import print_comparison, print_json
from accelsim.errors import AccelsimError
from accelsim.spec.hardware import load_hardware


def add_compare(p: argparse.ArgumentParser) -> None:
    o.add_trace(p)
    p.add_argument("--hardware", required=True, metavar="HW[,HW...]",
                   help="comma-separated machines to compare: built-in names or TOML files "
                        "(bit-tactical, dadiannao, bit-tactical-tclp, bit-tactical-tcle, "
                        "systolic-os-32x32, scnn, ideal)")
    o.add_reference(p)
    o.add_passes(p, help="passes to simulate and sum")
    o.add_threads(p)
    o.add_json(p)


def run_compare(args: argparse.Namespace) -> int:
    machines = o.names(args.hardware)
    if not machines:
        raise AccelsimError("--hardware: give one or more machines, e.g. "
                            "--hardware bit-tactical,scnn,ideal")
    passes = o.parse_passes(args.passes)
    if not passes:
        raise AccelsimError("--passes: give at least one pass, e.g. --passes forward")
    hws = [load_hardware(m) for m in machines]
    result = api.compare_trace(args.trace, hws, reference=load_hardware(args.reference),
                               passes=passes, step=args.step,
                               threads=args.threads)
    if args.json:
        print_json(result.to_dict())
    else:
        print_comparison(result)
    return 0


COMMANDS: dict[str, o.Command] = {
    "compare": o.Command("Compare machines on one trace for equal work: per machine the "
                         "time, speedup and energy efficiency against the reference "
                         "(--reference, default dadiannao), energy and its breakdown, area, "
                         "effectual GOPS, GOPS/mm2 and GOPS/W of the simulated passes.",
                         add_compare, run_compare),
}
