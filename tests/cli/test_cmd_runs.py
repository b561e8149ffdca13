"""demo, models, methods, show-run."""

from __future__ import annotations

import json


def test_demo_trains_records_and_simulates(cli, tmp_path):
    code, out, err = cli("demo", "--out", tmp_path, "--epochs", "1", "--batch", "2", "--quiet")
    assert code == 0
    assert "trained swat-u at sparsity 0.9 on digits-cnn/digits" in out
    assert "training FLOPs reduction" in out and "training_step" in out
    assert "epoch 1" not in out and err == ""          # --quiet: no progress or epoch lines
    code, out, _ = cli("show-run", tmp_path)
    assert code == 0 and "1/1 epochs" in out
    code, out, _ = cli("show-run", tmp_path, "--json")
    assert json.loads(out)["config"]["trace_samples"] == 2
    code, _, err = cli("demo", "--out", tmp_path / "x", "--dataset", "cifar10")
    assert code == 2 and "digits" in err


def test_demo_synthetic(cli, tmp_path):
    code, out, _ = cli("demo", "--synthetic", "--out", tmp_path, "--model", "resnet20",
                       "--dataset", "cifar10", "--batch", "1")
    assert code == 0 and out.startswith("== synthetic swat-u trace of resnet20/cifar10")
    assert (tmp_path / "traces" / "step-00000000.trace").exists()
    assert f"next: accelsim inspect {tmp_path}" in out


def test_models_and_methods(cli):
    code, out, _ = cli("models")
    assert code == 0 and "resnet50" in out and "cifar10" in out and "swat-u" in out
    code, out, _ = cli("methods", "--json")
    methods = json.loads(out)
    assert code == 0 and {"dense", "swat-u", "acdc"} <= set(methods)
    code, out, _ = cli("methods")
    assert code == 0 and "--param" in out


def test_show_run_of_a_plain_directory_is_one_line(cli, tmp_path):
    code, _, err = cli("show-run", tmp_path)
    assert code == 2 and "not a run directory" in err and len(err.strip().splitlines()) == 1
