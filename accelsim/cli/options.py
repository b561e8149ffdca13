"""Shared options of the ``accelsim`` subcommands: the argument types, and one helper per
shared concept, so that a concept is spelt the same in every subcommand (a trace is always
the positional ``TRACE_OR_RUN_DIR``; ``--hardware``, ``--passes``, ``--batch``,
``--dataset``/``--model``, ``--json``, ``--gpu-results``, ``--step``, ``--out`` ...)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from accelsim.errors import AccelsimError
from accelsim.networks.catalog import DATASETS, MODEL_NAMES
from accelsim.spec.sparsity import check_sparsity
from accelsim.trace import PASSES

#: the one default data set wherever a subcommand picks layer shapes
DEFAULT_DATASET = "cifar10"
ENCODINGS = ("fixed16", "float16", "float32")


@dataclass(frozen=True)
class Command:
    """One subcommand of a group module: its description (``--help``), the function adding
    its arguments to its parser, and the function running it (returns the exit status)."""

    description: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


class HelpFormatter(argparse.HelpFormatter):
    """Appends ``(default: X)`` to a flag's help unless the help already mentions its
    default, or the default is empty (None, False, suppressed): never printed twice."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if ("default" in text or default is None or default is False
                or default == argparse.SUPPRESS or not action.option_strings
                or action.nargs == 0):
            return text
        return f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, ``PROG: error: MESSAGE``, with the
    usual exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


# ---- argument types ---------------------------------------------------------------------------
def fraction(text: str) -> float:
    """A sparsity in [0, 1) (the argparse type of every ``--sparsity``-like flag)."""
    try:
        return check_sparsity(text)
    except AccelsimError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def nonneg_int(text: str) -> int:
    """An integer >= 0."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"{v} must be >= 0")
    return v


def pos_int(text: str) -> int:
    """An integer >= 1."""
    v = nonneg_int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"{v} must be >= 1")
    return v


def fractions(text: str) -> list[float]:
    """``"0.5,0.9"`` -> ``[0.5, 0.9]``, each a sparsity in [0, 1)."""
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise AccelsimError(f"{text!r} must be comma-separated fractions, e.g. 0.5,0.9") from None
    if not values or any(not 0.0 <= v < 1.0 for v in values):
        raise AccelsimError(f"{text!r}: sparsities must be in [0, 1)")
    return values


def names(text: str | None) -> tuple[str, ...]:
    """A comma-separated list (``"a, b,"`` -> ``("a", "b")``)."""
    return tuple(t.strip() for t in (text or "").split(",") if t.strip())


def parse_passes(text: str | None, flag: str = "--passes",
                 allowed: Sequence[str] = PASSES) -> tuple[str, ...]:
    """A comma-separated list of passes; ``backward-input`` and ``backward_input`` are the
    same pass (normalised to underscores).  Raises :class:`AccelsimError` for an unknown one."""
    passes = tuple(p.replace("-", "_") for p in names(text))
    bad = [p for p in passes if p not in allowed]
    if bad:
        raise AccelsimError(f"{flag}: unknown {', '.join(bad)}; choose from {', '.join(allowed)}")
    return passes


def parse_key_values(items: Sequence[str] | None, flag: str,
                     example: str) -> dict[str, str]:
    """Repeated ``KEY=VALUE`` flags (``--where``, ``--param``) as a dict of stripped strings."""
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise AccelsimError(f"{flag} {item!r} must look like KEY=VALUE (e.g. {example})")
        out[key.strip()] = value.strip()
    return out


# ---- one helper per shared option -------------------------------------------------------------
def add_trace(p: argparse.ArgumentParser, optional: bool = False, help: str = "") -> None:
    """The trace positional (a .trace file, or a run directory: its latest trace) and
    ``--step`` to pick another trace of a run directory."""
    p.add_argument("trace", metavar="TRACE_OR_RUN_DIR", nargs="?" if optional else None,
                   default=None, help=help or "a .trace file, or a run directory (its latest "
                                              "trace unless --step)")
    add_step(p)


def add_step(p: argparse.ArgumentParser) -> None:
    p.add_argument("--step", type=nonneg_int, default=None,
                   help="with a run directory: the trace of this training step")


def add_hardware(p: argparse.ArgumentParser, what: str = "hardware to simulate on") -> None:
    p.add_argument("--hardware", default=None, metavar="HW",
                   help=f"{what}: a TOML file or a built-in name (default: bit-tactical "
                        "T<2,5>; dadiannao is the dense baseline; also bit-tactical-tclp, "
                        "bit-tactical-tcle, systolic-os-32x32, scnn, ideal)")


def add_reference(p: argparse.ArgumentParser) -> None:
    """``--reference``: the machine every speedup and energy efficiency is measured against."""
    p.add_argument("--reference", default="dadiannao", metavar="HW",
                   help="reference machine of every speedup and energy efficiency (its time "
                        "and energy on the same operands): a built-in name or a TOML file "
                        "(default: dadiannao, the dense Bit-Tactical array)")


def add_threads(p: argparse.ArgumentParser) -> None:
    """``--threads N``: kernel threads, and processes compiling the kernels missing from the
    compile cache (default: every core); the figures do not depend on N."""
    p.add_argument("--threads", type=pos_int, default=None, metavar="N",
                   help="kernel threads, and processes compiling kernels missing from the "
                        "compile cache (default: every core); results are the same for any N")


def add_passes(p: argparse.ArgumentParser, default: str | None = ",".join(PASSES),
               help: str = "comma-separated passes") -> None:
    p.add_argument("--passes", default=default, metavar="PASS[,PASS...]",
                   help=f"{help}; comma-separated: forward, backward_input, "
                        "backward_weight (dashes also accepted)")


def add_layers(p: argparse.ArgumentParser, help: str) -> None:
    p.add_argument("--layers", default=None, metavar="PATTERN[,PATTERN...]",
                   help=f"{help}: comma-separated layer name patterns (default: all)")


def add_batch(p: argparse.ArgumentParser, help: str = "samples per batch",
              default: int | None = 1) -> None:
    p.add_argument("--batch", type=pos_int, default=default, help=help)


def add_model(p: argparse.ArgumentParser, required: bool = True,
              default: str | None = None) -> None:
    p.add_argument("--model", required=required, default=default, choices=MODEL_NAMES,
                   metavar="MODEL", help=f"zoo model: {', '.join(MODEL_NAMES)}")


def add_dataset(p: argparse.ArgumentParser, default: str = DEFAULT_DATASET,
                help: str = "data set whose shapes to use") -> None:
    p.add_argument("--dataset", default=default, metavar="DATASET",
                   help=f"{help}: {', '.join(DATASETS)}")


def add_input_size(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input-size", type=pos_int, default=None, metavar="PIXELS",
                   help="override the input size (derives the table from the torch model)")


def add_workload(p: argparse.ArgumentParser, required: bool = True) -> None:
    """``--model``, ``--dataset`` and ``--input-size``: the layer shapes of a zoo model."""
    add_model(p, required=required)
    add_dataset(p)
    add_input_size(p)


def add_sparsity(p: argparse.ArgumentParser, default: float | None = 0.9,
                 help: str = "target weight sparsity") -> None:
    p.add_argument("--sparsity", type=fraction, default=default, help=help)


def add_method(p: argparse.ArgumentParser, default: str | None, help: str) -> None:
    p.add_argument("--method", default=default, help=help)


def add_seed(p: argparse.ArgumentParser, help: str = "random seed") -> None:
    p.add_argument("--seed", type=nonneg_int, default=0, help=help)


def add_encoding(p: argparse.ArgumentParser, flag: str = "--encoding") -> None:
    p.add_argument(flag, default="fixed16", choices=ENCODINGS,
                   help="how trace values are stored")


def add_json(p: argparse.ArgumentParser, help: str = "print JSON instead of a table") -> None:
    p.add_argument("--json", action="store_true", help=help)


def add_out(p: argparse.ArgumentParser, help: str, metavar: str = "PATH",
            default: str | None = None) -> None:
    p.add_argument("--out", required=default is None, default=default, metavar=metavar,
                   help=help)


def add_gpu_results(p: argparse.ArgumentParser, required: bool = False,
                    help: str = "measured GPU speedups to compare with the simulated "
                                "ones") -> None:
    p.add_argument("--gpu-results", required=required, default=None, metavar="RESULTS.json",
                   help=f'{help}: `accelsim gpu-bench` JSON, or {{"layers": [{{"layer", '
                        '"pass", "speedup"}]}')


def add_where(p: argparse.ArgumentParser, help: str) -> None:
    p.add_argument("--where", action="append", metavar="KEY=VALUE", help=help)


def add_title(p: argparse.ArgumentParser, what: str = "figure") -> None:
    p.add_argument("--title", default=None, help=f"{what} title")


def progress_log(args: argparse.Namespace) -> Callable[[str], None] | None:
    """The ``log`` callback of long-running API calls: ``print``, or None under ``--quiet``."""
    return None if args.quiet else print


def unused(flags: dict[str, Any], command: str) -> None:
    """Raise if any of ``flags`` (flag -> given value) was given where it does not apply."""
    given = [flag for flag, value in flags.items() if value not in (None, False)]
    if given:
        raise AccelsimError(f"{', '.join(given)} does not apply to {command}")
