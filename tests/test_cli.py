"""The CLI: help for every subcommand, JSON shapes, and one-line errors (no tracebacks)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from accelsim.cli import build_parser, main

SUBCOMMANDS = ["demo", "inspect", "flops", "layers", "synthetic", "import-dnnsim", "simulate",
               "simulate-layer", "export-dnnsim", "models", "train", "show-run", "methods",
               "sweep", "plot", "report", "gpu-bench", "validate"]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_every_subcommand_has_help(capsys):
    for name in SUBCOMMANDS:
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0
        out = capsys.readouterr().out
        assert f"accelsim {name}" in out and len(out.splitlines()) > 3, name
    choices = build_parser()._subparsers._group_actions[0].choices
    assert sorted(choices) == sorted(SUBCOMMANDS)


def test_console_entry_point():
    proc = subprocess.run([sys.executable, "-m", "accelsim", "--help"], capture_output=True,
                          text=True, check=True)
    assert "examples:" in proc.stdout and "flops" in proc.stdout


def test_demo_inspect_and_flops(capsys, tmp_path):
    run_dir = tmp_path / "run"
    code, out, _ = run(capsys, "demo", "--out", str(run_dir), "--model", "resnet20",
                       "--dataset", "cifar10", "--batch", "1", "--synthetic")
    assert code == 0 and "training FLOPs reduction" in out
    code, out, _ = run(capsys, "inspect", str(run_dir), "--json")
    summary = json.loads(out)
    assert summary["metadata"]["method"] == "swat-u"
    layer = summary["layers"][1]
    assert {"name", "passes"} <= set(layer)
    assert layer["passes"]["forward"]["weight_density"] == pytest.approx(0.1, abs=0.01)
    assert set(layer["passes"]["backward_weight"]) >= {"activation_density", "grad_density"}
    assert "backward_input" not in summary["layers"][0]["passes"]
    code, out, _ = run(capsys, "inspect", str(run_dir), "--step", "0")
    assert code == 0 and "layer1.0.conv1" in out
    code, out, _ = run(capsys, "flops", "--trace", str(run_dir), "--json")
    report = json.loads(out)
    assert 0.85 < report["inference_flops_reduction"] < 1


def test_demo_trains_records_and_simulates(capsys, tmp_path):
    code, out, _ = run(capsys, "demo", "--out", str(tmp_path), "--epochs", "1", "--batch", "2",
                       "--no-progress")
    assert code == 0
    assert "trained swat-u at sparsity 0.9 on digits-cnn/digits" in out
    assert "training FLOPs reduction" in out and "training_step" in out
    code, out, _ = run(capsys, "show-run", str(tmp_path))
    assert code == 0 and "1/1 epochs" in out
    code, _, err = run(capsys, "demo", "--out", str(tmp_path / "x"), "--dataset", "cifar10")
    assert code == 2 and "digits" in err


def test_flops_spec_json(capsys):
    code, out, _ = run(capsys, "flops", "--model", "resnet50", "--dataset", "imagenet",
                       "--method", "swat-u", "--sparsity", "0.8", "--json")
    data = json.loads(out)
    assert code == 0
    assert data["inference_flops_reduction"] == pytest.approx(0.777, abs=0.0005)
    assert 0 < data["training_flops_reduction"] < 1
    code, out, _ = run(capsys, "flops", "--model", "resnet50", "--dataset", "imagenet",
                       "--method", "swat-u", "--sparsity", "0.8")
    assert "layer4.2.conv3" in out and "inference FLOPs reduction: 77.7%" in out


def test_layers_and_synthetic(capsys, tmp_path):
    code, out, _ = run(capsys, "layers", "--model", "mobilenetv2", "--dataset", "imagenet",
                       "--json")
    layers = json.loads(out)
    assert code == 0 and layers[0]["input_h"] == 224
    assert any(g["groups"] > 1 for g in layers)
    target = tmp_path / "s.trace"
    code, out, _ = run(capsys, "synthetic", "--model", "digits-cnn", "--dataset", "digits",
                       "--sparsity", "0.5", "--structure", "filter", "--out", str(target))
    assert code == 0 and target.exists()


@pytest.mark.parametrize("argv, words", [
    (["inspect", "missing.trace"], "does not exist"),
    (["flops", "--model", "resnet50"], "--method, --sparsity"),
    (["flops", "--trace", "missing-dir"], "does not exist"),
    (["flops", "--model", "wrn28-10", "--dataset", "imagenet", "--method", "swat-u",
      "--sparsity", "0.9"], "defined for 32x32"),
    (["flops", "--model", "resnet20", "--method", "swat-m", "--sparsity", "0.9"], "momentum"),
    (["layers", "--model", "resnet18", "--dataset", "mnist"], "unknown data set"),
])
def test_errors_are_one_line(capsys, tmp_path, monkeypatch, argv, words):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert words in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_corrupt_trace_is_one_line(capsys, tmp_path):
    bad = tmp_path / "bad.trace"
    bad.write_bytes(b"PK\x03\x04 truncated")
    code, _, err = run(capsys, "inspect", str(bad))
    assert code == 2 and "truncated" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv", [["flops", "--model", "resnet20", "--method", "swat-u",
                                    "--sparsity", "1.5"],
                                   ["demo", "--batch", "0"],
                                   ["layers", "--model", "alexnet"]])
def test_argument_errors_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error:" in err


def test_dnnsim_round_trip_via_cli(capsys, tmp_path):
    trace = tmp_path / "r20.trace"
    assert main(["synthetic", "--model", "resnet20", "--method", "swat-u", "--sparsity", "0.8",
                 "--encoding", "float32", "--out", str(trace)]) == 0
    out_dir = tmp_path / "dnnsim"
    code, _, _ = run(capsys, "export-dnnsim", str(trace), "--out", str(out_dir))
    assert code == 0 and (out_dir / "trace_params.csv").exists()
    assert (out_dir / "wgt-layer1.0.conv1.npy").exists()
    code, _, err = run(capsys, "export-dnnsim", str(trace), "--out", str(out_dir))
    assert code == 2 and "--force" in err
    back = tmp_path / "back.trace"
    code, _, _ = run(capsys, "import-dnnsim", str(out_dir), "--out", str(back),
                     "--encoding", "float32")
    assert code == 0
    code, out, _ = run(capsys, "inspect", str(back), "--json")
    a, b = json.loads(out), None
    code, out, _ = run(capsys, "inspect", str(trace), "--json")
    b = json.loads(out)
    assert [x["name"] for x in a["layers"]] == [x["name"] for x in b["layers"]]
    for la, lb in zip(a["layers"], b["layers"], strict=True):
        assert la["passes"]["forward"]["weight_density"] == lb["passes"]["forward"]["weight_density"]
