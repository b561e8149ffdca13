"""simulate and simulate-layer: positional trace, --passes spellings, default data set."""

from __future__ import annotations

import json

import numpy as np
import pytest

from accelsim.cli import main


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    path = tmp_path_factory.mktemp("sim") / "d.trace"
    assert main(["synthetic", "--model", "digits-cnn", "--dataset", "digits", "--method",
                 "swat-u", "--out", str(path)]) == 0
    return path


def test_simulate_a_trace_with_either_pass_spelling(cli, trace):
    dashes = json.loads(cli("simulate", trace, "--passes", "forward,backward-input", "--json")[1])
    under = json.loads(cli("simulate", trace, "--passes", "forward,backward_input", "--json")[1])
    assert dashes == under
    assert {p for lr in dashes["layers"] for p in lr["passes"]} == {"forward", "backward_input"}
    code, out, _ = cli("simulate", trace, "--hardware", "dadiannao", "--csv")
    assert code == 0 and out.count("\n") > 3
    code, out, _ = cli("simulate", trace)
    assert code == 0 and "totals:" in out


def test_synthetic_defaults_to_cifar10(cli):
    code, out, _ = cli("simulate", "--synthetic", "resnet20", "--passes", "forward", "--json")
    assert code == 0 and json.loads(out)["source"] == "synthetic:resnet20/cifar10/swat-u@0.9"


@pytest.mark.parametrize("argv, words", [
    (["simulate"], "needs a TRACE_OR_RUN_DIR or --synthetic"),
    (["simulate", "x.trace", "--synthetic", "resnet20"], "not both"),
    (["simulate", "--synthetic", "resnet20", "--passes", "sideways"], "unknown sideways"),
])
def test_simulate_errors(cli, argv, words):
    code, _, err = cli(*argv)
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1


def test_simulate_layer(cli, tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "W.npy", rng.standard_normal((8, 4, 3, 3)) * (rng.random((8, 4, 3, 3)) < .3))
    np.save(tmp_path / "A.npy", rng.standard_normal((1, 4, 6, 6)))
    code, out, _ = cli("simulate-layer", "--weights", tmp_path / "W.npy", "--activations",
                       tmp_path / "A.npy", "--padding", "1", "--json")
    assert code == 0 and json.loads(out)["forward"]["speedup"] > 1
    code, out, _ = cli("simulate-layer", "--weights", tmp_path / "W.npy", "--activations",
                       tmp_path / "A.npy", "--padding", "1")
    assert code == 0 and out.startswith("forward") and "speedup" in out


def test_threads_option_gives_the_same_figures(cli, usage_error, trace, tmp_path):
    one = cli("simulate", trace, "--hardware", "bit-tactical-tcle", "--threads", "1", "--json")
    two = cli("simulate", trace, "--hardware", "bit-tactical-tcle", "--threads", "2", "--json")
    assert one[0] == two[0] == 0 and json.loads(one[1]) == json.loads(two[1])
    assert "--threads" in usage_error("simulate", trace, "--threads", "0")
    rng = np.random.default_rng(0)
    np.save(tmp_path / "W.npy", rng.standard_normal((8, 4, 3, 3)))
    np.save(tmp_path / "A.npy", rng.standard_normal((1, 4, 6, 6)))
    code, out, _ = cli("simulate-layer", "--weights", tmp_path / "W.npy", "--activations",
                       tmp_path / "A.npy", "--threads", "1", "--json")
    assert code == 0 and "forward" in json.loads(out)


def test_warm_fills_the_kernel_cache(cli):
    code, out, _ = cli("warm", "--threads", "1")
    assert code == 0 and "kernel cache" in out and "scnn" in out
