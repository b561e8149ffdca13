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
    forward = json.loads(out)["forward"]
    assert code == 0 and forward["speedup"] > 1 and forward["reference"] == "dadiannao"
    code, out, _ = cli("simulate-layer", "--weights", tmp_path / "W.npy", "--activations",
                       tmp_path / "A.npy", "--padding", "1", "--hardware", "scnn",
                       "--reference", "scnn", "--json")
    assert json.loads(out)["forward"]["energy_efficiency"] == 1.0
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


def test_simulate_reference(cli, trace):
    d = json.loads(cli("simulate", trace, "--passes", "forward", "--json")[1])
    total = d["totals"]["forward"]
    assert total["reference"] == "dadiannao" and d["reference_hardware"]["name"] == "dadiannao"
    assert d["area_mm2"] == sum(d["area_breakdown_mm2"].values())
    own = json.loads(cli("simulate", trace, "--passes", "forward", "--hardware", "dadiannao",
                         "--reference", "dadiannao", "--json")[1])["totals"]["forward"]
    assert own["speedup"] == 1.0 and own["energy_efficiency"] == 1.0
    vs_tcle = json.loads(cli("simulate", trace, "--passes", "forward", "--reference",
                             "bit-tactical-tcle", "--json")[1])["totals"]["forward"]
    assert vs_tcle["reference"] == "bit-tactical T<2,5> tcle"
    assert vs_tcle["speedup"] == vs_tcle["reference_time_s"] / vs_tcle["time_s"]
    code, out, _ = cli("simulate", trace, "--passes", "forward", "--csv")
    header = out.splitlines()[0].split(",")
    assert {"speedup", "speedup_vs_own_dense", "reference", "energy_dram_pj",
            "gops_per_w"} <= set(header)
    code, _, err = cli("simulate", trace, "--reference", "nosuch")
    assert code == 2 and "nosuch" in err and len(err.strip().splitlines()) == 1


def test_compare(cli, trace):
    code, out, _ = cli("compare", trace, "--hardware", "bit-tactical,scnn,ideal", "--passes",
                       "forward")
    assert code == 0 and "GOPS/W" in out and "scnn" in out
    d = json.loads(cli("compare", trace, "--hardware", "dadiannao,bit-tactical", "--passes",
                       "forward", "--json")[1])
    dense, tactical = d["machines"]
    assert d["reference"] == "dadiannao" and dense["speedup"] == 1.0
    assert tactical["speedup"] > 1 and tactical["gops_per_mm2"] > 0
    assert tactical["energy_pj"] == sum(tactical["energy_breakdown_pj"].values())


def test_compare_threads_gives_the_same_figures(cli, usage_error, trace):
    argv = ("compare", trace, "--hardware", "bit-tactical-tcle,scnn", "--passes", "forward",
            "--json")
    one, two = cli(*argv, "--threads", "1"), cli(*argv, "--threads", "2")
    assert one[0] == two[0] == 0 and json.loads(one[1]) == json.loads(two[1])
    assert "--threads" in usage_error("compare", trace, "--hardware", "scnn", "--threads", "0")
    assert "--threads" in usage_error("compare", trace, "--hardware", "scnn", "--threads", "x")


@pytest.mark.parametrize("argv, words", [
    (["compare", "x.trace", "--hardware", ","], "give one or more machines"),
    (["compare", "x.trace", "--hardware", "bit-tactical,warp-drive"], "warp-drive"),
    (["compare", "x.trace", "--hardware", "bit-tactical", "--reference", "warp"], "warp"),
    (["compare", "x.trace", "--hardware", "bit-tactical", "--passes", "up"], "unknown up"),
])
def test_compare_errors(cli, argv, words):
    code, _, err = cli(*argv)
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1
