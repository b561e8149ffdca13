"""The training loop: run directories, resume equivalence, CLI, DDP under torchrun."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from accelsim.cli import main
from accelsim.errors import ConfigError
from accelsim.rundir import CHECKPOINT
from accelsim.trace import open_trace
from training.checkpoint import open_run
from training.config import TrainConfig, lr_factor
from training.loop import train

QUICK = {"epochs": 4, "batch_size": 32, "max_steps_per_epoch": 6, "trace_every": 5,
         "trace_samples": 2}


class Stop(Exception):
    pass


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("method", ["swat-u", "acdc", "swat-m"])
def test_interrupted_run_resumes_to_the_same_result(tmp_path, method):
    config = TrainConfig(method=method, sparsity=0.8, **QUICK)
    straight = train(config, tmp_path / "a", progress=False, log=None)

    def stop(epoch, step):
        if epoch == 2 and step == 15:          # inside the third epoch
            raise Stop
    with pytest.raises(Stop):
        train(config, tmp_path / "b", progress=False, log=None, on_step=stop)
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "b" / "traces").iterdir()}
    assert open_run(tmp_path / "b").finished is False
    resumed = train(config, tmp_path / "b", progress=False, log=None)
    a, b = _weights(straight.model), _weights(resumed.model)
    assert all(torch.equal(a[k], b[k]) for k in a)
    strip = [{k: v for k, v in m.items() if k != "seconds"} for m in straight.metrics]
    assert strip == [{k: v for k, v in m.items() if k != "seconds"} for m in resumed.metrics]
    assert [p.name for p in straight.traces] == [p.name for p in resumed.traces]
    after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "b" / "traces").iterdir()}
    assert all(after[n] == t for n, t in before.items())     # no trace lost or rewritten
    assert straight.events == resumed.events


def test_run_directory_contents_and_reopen(tmp_path):
    result = train(TrainConfig(method="swat-u", **QUICK), tmp_path, progress=False, log=None)
    for name in ("config.json", "metrics.jsonl", "events.jsonl", "summary.json"):
        assert (tmp_path / name).is_file()
    assert (tmp_path / CHECKPOINT).is_file()
    run = open_run(tmp_path)
    assert run.finished and run.config == result.config and len(run.metrics) == 4
    m = run.metrics[-1]
    for key in ("train", "test", "weight_density", "zero_filters", "activation_density",
                "dead_neurons", "flops", "measured_densities", "lr", "step"):
        assert key in m
    # recorded SWAT traces: 10% weight density in every sparsified layer
    for path in run.traces:
        with open_trace(path) as trace:
            for layer in trace.iter_layers():
                d = layer.mask("forward", "weight").mean()
                assert d == 1.0 if layer.name == "conv1" else abs(d - 0.1) < 0.01
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["method"] == "swat-u" and summary["epochs"] == 4


def test_run_directory_guards(tmp_path):
    config = TrainConfig(**{**QUICK, "epochs": 1})
    train(config, tmp_path, progress=False, log=None)
    with pytest.raises(ConfigError, match="another run"):
        train(TrainConfig(**{**QUICK, "epochs": 2}), tmp_path, progress=False, log=None)
    with pytest.raises(ConfigError, match="already holds"):
        train(config, tmp_path, resume=False, progress=False, log=None)
    (tmp_path / CHECKPOINT).write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="unreadable"):
        train(config, tmp_path, progress=False, log=None)
    with pytest.raises(ConfigError, match="not a run directory"):
        open_run(tmp_path / "nothing")


@pytest.mark.parametrize("kwargs, match", [
    ({"method": "lottery"}, "method"), ({"epochs": 0}, "epochs"), ({"lr": -1.0}, "lr"),
    ({"trace_passes": ("up",)}, "trace_passes"),
    ({"method": "swat-u", "method_params": {"weight_topk": "x"}}, "weight_topk"),
    ({"method": "acdc", "epochs": 2}, "epoch"),
    ({"method": "dense", "method_params": {"topk_period": 2}}, "no parameter")])
def test_bad_train_configs(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        TrainConfig(**kwargs)


def test_lr_schedule_warmup_and_cosine():
    c = TrainConfig(epochs=4, warmup_epochs=1)
    assert lr_factor(c, 0, 10) == pytest.approx(0.1)
    assert lr_factor(c, 9, 10) == pytest.approx(1.0)
    assert lr_factor(c, 10, 10) == pytest.approx(1.0)
    assert lr_factor(c, 25, 10) == pytest.approx(0.5)
    assert lr_factor(TrainConfig(lr_schedule="step", epochs=4), 30, 10) == pytest.approx(0.01)
    # learning-rate rewinding: the schedule starts again at the restart step
    assert lr_factor(c, 20, 10, restart=20) == pytest.approx(1.0)
    assert lr_factor(c, 30, 10, restart=20) == pytest.approx(0.5)
    assert lr_factor(c, 19, 10, restart=20) == lr_factor(c, 19, 10)


def test_cycle_methods_rewind_the_learning_rate(tmp_path):
    config = TrainConfig(method="imp", sparsity=0.75, **{**QUICK, "trace_every": 0})
    result = train(config, tmp_path, progress=False, log=None)
    prunes = [e["iteration"] for e in result.events if e["event"] == "prune"]
    assert prunes                                   # the LR at the end of the epoch of the
    last = prunes[-1]                               # last prune restarted from there
    spe = QUICK["max_steps_per_epoch"]
    epoch = last // spe
    want = lr_factor(config, (epoch + 1) * spe - 1, spe, restart=last) * config.lr
    assert result.metrics[epoch]["lr"] == pytest.approx(want)
    assert want > lr_factor(config, (epoch + 1) * spe - 1, spe) * config.lr


def test_cli_train_and_show_run(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--method", "acdc", "--sparsity", "0.9", "--epochs", "4",
                 "--max-steps-per-epoch", "3", "--trace-every", "100", "--out", str(out),
                 "--quiet", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["epochs"] == 4 and summary["traces"]
    assert main(["show-run", str(out)]) == 0
    text = capsys.readouterr().out
    assert "acdc at sparsity 0.9" in text and "compressed" in text
    assert main(["train", "--data", f"cifar10:{tmp_path / 'missing'}", "--out",
                 str(tmp_path / "c")]) == 2
    assert "cifar10" in capsys.readouterr().err


def test_ddp_under_torchrun_with_gloo(tmp_path):
    """Two CPU processes, gloo backend: rank 0 writes the run; it completes."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "accelsim", "train", "--method", "swat-u", "--epochs", "2",
           "--max-steps-per-epoch", "3", "--trace-every", "2", "--out", str(tmp_path / "ddp"),
           "--quiet"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr[-2000:]
    run = open_run(tmp_path / "ddp")
    assert run.finished and run.traces
    # each rank saw half of the data per epoch
    assert run.metrics[0]["train"]["samples"] == 2 * 3 * 64
