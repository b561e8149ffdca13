"""The sweep subcommand: an architecture sweep into a results store, and its export."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from accelsim.cli import options as o
from accelsim.cli.printing import print_json
from accelsim.cli.wiring import derive_layer_table
from accelsim.errors import AccelsimError
from accelsim.explore import run as sweep_run
from accelsim.explore import store
from accelsim.explore.load import load_sweep


def add_sweep(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", nargs="?", default=None, metavar="SPEC.toml",
                   help="sweep spec (see accelsim/explore/load.py); optional with --export")
    o.add_out(p, "results store (SQLite; created, or resumed if it exists)", "STORE.sqlite")
    p.add_argument("--workers", type=o.pos_int, default=None,
                   help="local worker processes (default: all cores; 1 = in this process)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run on this Dask distributed scheduler (e.g. tcp://host:8786)")
    p.add_argument("--max-points", type=o.nonneg_int, default=None,
                   help="compute at most N points now (the rest on a later run)")
    p.add_argument("--export", default=None, metavar="FILE",
                   help="after the run (or alone), export the rows to FILE.csv / FILE.parquet")
    o.add_where(p, "with --export: keep matching rows only (repeatable), e.g. pass=forward, "
                   "layer=*total*, frontend.lookahead=2")
    o.add_json(p, "print the run summary as JSON")


def typed(value: str) -> Any:
    """A ``--where`` value as the store holds it: int, float, bool or text."""
    for convert in (int, float):
        try:
            return convert(value)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(value, value)


def run_points(args: argparse.Namespace) -> sweep_run.SweepResult:
    """Run the spec into the store; report skipped invalid hardware and the summary."""
    spec = load_sweep(args.spec, derive=derive_layer_table)
    for s in spec.skipped[:5]:
        print(f"skipped invalid hardware {s.params}: {s.reason}", file=sys.stderr)
    if len(spec.skipped) > 5:
        print(f"... {len(spec.skipped) - 5} more invalid combinations skipped", file=sys.stderr)
    result = sweep_run.run_sweep(spec, args.out, workers=args.workers, scheduler=args.scheduler,
                             progress=not args.quiet, max_points=args.max_points)
    if args.json:
        print_json(result.to_dict())
    else:
        ref = spec.reference.name if spec.reference is not None else "none"
        print(f"sweep {result.name}: {result.total} points ({len(spec.workloads)} "
              f"workloads x {len(spec.hardware)} hardware, the reference {ref} included), "
              f"{result.already_done} already "
              f"in {result.store}, {result.computed} computed on {result.executor} in "
              f"{result.seconds:.1f} s, {result.by_others} done by another sweep meanwhile, "
              f"{len(result.failed)} failed, {result.remaining} "
              f"left, {result.skipped_invalid} invalid combinations skipped")
    return result


def run_sweep(args: argparse.Namespace) -> int:
    if args.spec is None and args.export is None:
        raise AccelsimError("sweep needs a SPEC.toml to run, or --export FILE to export the "
                            "store given by --out")
    result = run_points(args) if args.spec is not None else None
    if args.export is not None:
        where = {k: typed(v) for k, v in
                 o.parse_key_values(args.where, "--where", "pass=forward").items()}
        path = store.export(args.out, args.export, where)
        print(f"wrote {path}", file=sys.stderr if args.json else sys.stdout)
    if result is not None and result.failed:
        trace, params, error = result.failed[0]
        raise AccelsimError(f"{len(result.failed)} point(s) failed (kept in the store's "
                            f"failures table; re-run to retry), first: {trace} {params}: {error}")
    return 0


COMMANDS: dict[str, o.Command] = {
    "sweep": o.Command("Run an architecture sweep (TOML spec: hardware grid x traces/synthetic "
                       "workloads x passes) into a SQLite results store; re-running resumes. "
                       "--export writes the store's rows to .csv or .parquet.",
                       add_sweep, run_sweep),
}
