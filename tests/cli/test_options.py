"""Shared options: every flag has help, defaults are printed once, one spelling per concept."""

from __future__ import annotations

import argparse

import pytest

from accelsim.cli import COMMANDS, build_parser
from accelsim.cli.options import HelpFormatter, parse_key_values, parse_passes
from accelsim.errors import AccelsimError


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    return build_parser()._subparsers._group_actions[0].choices


def _help_lines(parser: argparse.ArgumentParser) -> dict[str, str]:
    """flag -> its help as printed (the formatter may append a default)."""
    formatter = parser._get_formatter()
    return {"/".join(a.option_strings) or a.dest: formatter._expand_help(a)
            for a in parser._actions if a.help}


def test_every_argument_has_help_and_defaults_print_once():
    for name, parser in _subparsers().items():
        assert all(a.help and a.help.strip() for a in parser._actions), name
        for flag, text in _help_lines(parser).items():
            assert text.count("(default") <= 1, f"accelsim {name} {flag}: {text}"
        text = parser.format_help()
        assert "(default: None)" not in text and "(default: False)" not in text, name


def test_formatter_appends_a_default_only_when_missing():
    p = argparse.ArgumentParser(formatter_class=HelpFormatter)
    p.add_argument("--a", default=3, help="an int")
    p.add_argument("--b", default=4, help="an int (default: four)")
    p.add_argument("--c", default=0, help="zero")
    p.add_argument("--d", action="store_true", help="a switch")
    text = " ".join(p.format_help().split())
    assert "an int (default: 3)" in text and "(default: four) (default" not in text
    assert "zero (default: 0)" in text and "a switch (default" not in text


def test_shared_concepts_are_spelt_once():
    """The old spellings are gone from every subcommand."""
    old = {"--trace", "--gpu", "--pass", "--batch-size", "--no-progress", "--out-dir",
           "--trace-passes", "--trace-layers", "--trace-encoding"}
    for name, parser in _subparsers().items():
        flags = {s for a in parser._actions for s in a.option_strings}
        assert not flags & old, (name, flags & old)
    subs = _subparsers()
    for name in ("flops", "inspect", "simulate", "export-dnnsim", "validate", "gpu-bench"):
        assert any(a.dest == "trace" and not a.option_strings for a in subs[name]._actions), name
    for name in ("plot", "report", "validate"):
        assert any("--gpu-results" in a.option_strings for a in subs[name]._actions), name
    for name in ("simulate", "plot", "train", "gpu-bench"):
        assert any("--passes" in a.option_strings for a in subs[name]._actions), name
    for name in ("layers", "flops", "synthetic", "simulate"):
        ds = next(a for a in subs[name]._actions if "--dataset" in a.option_strings)
        assert ds.default == "cifar10", name
    assert len(subs) == len(COMMANDS)


@pytest.mark.parametrize("text, want", [
    ("forward,backward-input", ("forward", "backward_input")),
    (" backward_weight , backward-weight,", ("backward_weight", "backward_weight")),
    ("", ()),
    (None, ()),
])
def test_passes_accept_dashes_and_underscores(text, want):
    assert parse_passes(text) == want


def test_unknown_pass_and_key_value_errors():
    with pytest.raises(AccelsimError, match="--passes: unknown sideways"):
        parse_passes("forward,sideways")
    assert parse_key_values(["a = 1", "b=x=y"], "--where", "k=v") == {"a": "1", "b": "x=y"}
    with pytest.raises(AccelsimError, match="--where 'oops' must look like KEY=VALUE"):
        parse_key_values(["oops"], "--where", "pass=forward")
