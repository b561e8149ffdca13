"""Trace subcommands: inspect, flops (trace positional or spec), layers, synthetic, DNNsim."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def demo_run(cli, tmp_path):
    run_dir = tmp_path / "run"
    code, out, _ = cli("demo", "--out", run_dir, "--model", "resnet20", "--dataset", "cifar10",
                       "--batch", "1", "--synthetic")
    assert code == 0 and "training FLOPs reduction" in out
    return run_dir


def test_inspect_and_flops_of_a_trace(cli, demo_run):
    code, out, _ = cli("inspect", demo_run, "--json")
    summary = json.loads(out)
    assert summary["metadata"]["method"] == "swat-u"
    layer = summary["layers"][1]
    assert {"layer", "passes"} <= set(layer)
    assert layer["passes"]["forward"]["weight_density"] == pytest.approx(0.1, abs=0.01)
    assert set(layer["passes"]["backward_weight"]) >= {"activation_density", "grad_density"}
    assert "backward_input" not in summary["layers"][0]["passes"]
    code, out, _ = cli("inspect", demo_run, "--step", "0")
    assert code == 0 and "layer1.0.conv1" in out
    code, out, _ = cli("flops", demo_run, "--json")
    assert 0.85 < json.loads(out)["inference_flops_reduction"] < 1
    code, out, _ = cli("flops", demo_run, "--step", "0")
    assert code == 0 and "training FLOPs reduction" in out


def test_flops_spec(cli):
    code, out, _ = cli("flops", "--model", "resnet50", "--dataset", "imagenet", "--method",
                       "swat-u", "--sparsity", "0.8", "--json")
    data = json.loads(out)
    assert code == 0
    assert data["inference_flops_reduction"] == pytest.approx(0.777, abs=0.0005)
    assert 0 < data["training_flops_reduction"] < 1
    code, out, _ = cli("flops", "--model", "resnet50", "--dataset", "imagenet", "--method",
                       "swat-u", "--sparsity", "0.8")
    assert "layer4.2.conv3" in out and "inference FLOPs reduction: 77.7%" in out


def test_layers_and_synthetic(cli, tmp_path):
    code, out, _ = cli("layers", "--model", "mobilenetv2", "--dataset", "imagenet", "--json")
    layers = json.loads(out)
    assert code == 0 and layers[0]["input_h"] == 224
    assert any(g["groups"] > 1 for g in layers)
    code, out, _ = cli("layers", "--model", "resnet20")
    assert code == 0 and "MACs per sample" in out and "32x32" in out  # default cifar10
    target = tmp_path / "s.trace"
    code, out, _ = cli("synthetic", "--model", "digits-cnn", "--dataset", "digits",
                       "--sparsity", "0.5", "--structure", "filter", "--out", target)
    assert code == 0 and target.exists() and f"wrote {target}" in out


@pytest.mark.parametrize("argv, words", [
    (["inspect", "missing.trace"], "does not exist"),
    (["flops", "--model", "resnet50"], "--method, --sparsity"),
    (["flops", "missing-dir"], "does not exist"),
    (["flops", "x.trace", "--model", "resnet20"], "--model does not apply to a trace"),
    (["flops", "--model", "wrn28-10", "--dataset", "imagenet", "--method", "swat-u",
      "--sparsity", "0.9"], "defined for 32x32"),
    (["flops", "--model", "resnet20", "--method", "swat-m", "--sparsity", "0.9"], "momentum"),
    (["layers", "--model", "resnet18", "--dataset", "mnist"], "unknown data set"),
])
def test_errors_are_one_line(cli, tmp_path, monkeypatch, argv, words):
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(*argv)
    assert code == 2 and err.startswith(f"accelsim {argv[0]}: error:")
    assert words in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_corrupt_trace_is_one_line(cli, tmp_path):
    bad = tmp_path / "bad.trace"
    bad.write_bytes(b"PK\x03\x04 truncated")
    code, _, err = cli("inspect", bad)
    assert code == 2 and "truncated" in err and len(err.strip().splitlines()) == 1


def test_dnnsim_round_trip(cli, tmp_path):
    trace = tmp_path / "r20.trace"
    assert cli("synthetic", "--model", "resnet20", "--method", "swat-u", "--sparsity", "0.8",
               "--encoding", "float32", "--out", trace)[0] == 0
    out_dir = tmp_path / "dnnsim"
    code, _, _ = cli("export-dnnsim", trace, "--out", out_dir)
    assert code == 0 and (out_dir / "trace_params.csv").exists()
    assert (out_dir / "wgt-layer1.0.conv1.npy").exists()
    code, _, err = cli("export-dnnsim", trace, "--out", out_dir)
    assert code == 2 and "--force" in err
    back = tmp_path / "back.trace"
    code, _, _ = cli("import-dnnsim", out_dir, "--out", back, "--encoding", "float32")
    assert code == 0
    a = json.loads(cli("inspect", back, "--json")[1])
    b = json.loads(cli("inspect", trace, "--json")[1])
    assert [x["layer"] for x in a["layers"]] == [x["layer"] for x in b["layers"]]
    for la, lb in zip(a["layers"], b["layers"], strict=True):
        assert la["passes"]["forward"]["weight_density"] == lb["passes"]["forward"]["weight_density"]
