"""``accelsim``: one command, many subcommands (the ``accelsim.cli:main`` entry point).

The CLI is the only place that wires ``training/``, ``plots/`` and ``workloads/`` together.
:mod:`accelsim.cli.dispatch` parses and maps errors to one line and exit status 2;
:mod:`accelsim.cli.options` holds the options shared by subcommands (one spelling per
concept); :mod:`accelsim.cli.printing` the tables; each ``cmd_*`` module one group of
subcommands, which only parse their arguments, call an API function and print.
"""

from accelsim.cli.dispatch import COMMANDS, build_parser, main

__all__ = ["COMMANDS", "build_parser", "main"]
