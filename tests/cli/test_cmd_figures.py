"""plot, report, validate: --passes (shown or summed), --gpu-results, the positional trace."""

from __future__ import annotations

import pytest

from accelsim.cli import build_parser
from accelsim.cli.cmd_figures import plot_options, summed_pass
from accelsim.errors import AccelsimError


def _options(*argv: str) -> dict:
    return plot_options(build_parser(["plot"]).parse_args(["plot", *argv, "x", "--out", "f.svg"]))


@pytest.mark.parametrize("passes, want", [
    (None, "training_step"), ("forward", "forward"),
    ("backward-input,backward_weight", "backward"),
    ("backward_weight,forward,backward-input", "training_step"),
])
def test_heatmap_and_pareto_sum_the_passes(passes, want):
    argv = ["--passes", passes] if passes else []
    assert _options("heatmap", *argv)["pass_name"] == want
    assert _options("pareto", *argv)["pass_name"] == want


def test_sparsity_and_layers_show_the_passes():
    assert _options("layers", "--passes", "backward-input")["passes"] == ("backward_input",)
    assert "passes" not in _options("sparsity")
    assert _options("layers", "--gpu-results", "g.json")["gpu"] == "g.json"


@pytest.mark.parametrize("argv, words", [
    (["heatmap", "--passes", "forward,backward_input"], "heatmap and pareto sum"),
    (["training", "--passes", "forward"], "--passes does not apply to the training figure"),
    (["sparsity", "--gpu-results", "g.json"], "--gpu-results does not apply"),
    (["layers", "--epoch", "2"], "--epoch does not apply"),
])
def test_plot_flags_that_do_not_apply(argv, words):
    with pytest.raises(AccelsimError, match=words):
        _options(*argv)
    assert summed_pass(("forward",)) == "forward"


def test_plot_layers_of_a_trace(cli, tmp_path):
    trace = tmp_path / "d.trace"
    assert cli("synthetic", "--model", "digits-cnn", "--dataset", "digits", "--out", trace)[0] == 0
    code, out, err = cli("plot", "layers", trace, "--passes", "forward,backward-weight", "--out",
                         tmp_path / "l.svg")
    assert code == 0 and f"wrote {tmp_path / 'l.svg'}" in out, err
    text = (tmp_path / "l.svg").read_text()
    assert "backward-weight" in text and "backward-input" not in text


def test_validate_needs_gpu_results(usage_error):
    err = usage_error("validate", "x.trace")
    assert "--gpu-results" in err and len(err.strip().splitlines()) == 1
    err = usage_error("validate", "--gpu-results", "g.json")
    assert "TRACE_OR_RUN_DIR" in err
