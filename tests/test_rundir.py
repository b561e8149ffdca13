"""The run-directory layout and its torch-free readers (accelsim.rundir)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from accelsim import rundir
from accelsim.errors import ConfigError
from accelsim.trace.schema import TRACE_SUFFIX


def _run(tmp_path: Path, epochs: int = 3) -> Path:
    d = tmp_path / "run"
    (d / rundir.TRACE_DIR).mkdir(parents=True)
    (d / rundir.CONFIG_NAME).write_text(json.dumps({"method": "acdc", "epochs": epochs}))
    (d / rundir.METRICS_NAME).write_text('{"epoch": 0}\n{"epoch": 1}\n{"epo')   # truncated
    for step in (12, 3, 100):
        (d / rundir.TRACE_DIR / rundir.trace_name(step)).write_bytes(b"")
    return d


def test_layout_names_and_trace_order(tmp_path):
    assert rundir.TRACE_SUFFIX == TRACE_SUFFIX
    assert rundir.trace_name(40) == "step-00000040.trace"
    assert rundir.trace_step("x/step-00000040.trace") == 40 and rundir.trace_step("a.trace") is None
    d = _run(tmp_path)
    assert [rundir.trace_step(p) for p in rundir.trace_files(d)] == [3, 12, 100]
    assert rundir.is_run_dir(d) and not rundir.is_run_dir(tmp_path / "nothing")


def test_read_run_tolerates_a_truncated_last_line(tmp_path):
    run = rundir.read_run(_run(tmp_path))
    assert run.metrics == [{"epoch": 0}, {"epoch": 1}] and run.events == []
    assert run.config["method"] == "acdc" and not run.finished
    assert rundir.read_run(_run(tmp_path / "b", epochs=2)).finished
    assert run.to_dict()["traces"][0].endswith("step-00000003.trace")


def test_bad_run_directories_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="not a run directory"):
        rundir.read_run(tmp_path / "nothing")
    d = _run(tmp_path)
    (d / rundir.METRICS_NAME).write_text('{"epoch": 0}\nnot json\n{"epoch": 1}\n')
    with pytest.raises(ConfigError, match="line 2"):
        rundir.read_run(d)
    (d / rundir.CONFIG_NAME).write_text("[1, 2]")
    with pytest.raises(ConfigError, match="JSON object"):
        rundir.read_config(d)


def test_show_run_needs_no_torch(tmp_path):
    d = _run(tmp_path)
    epoch = {"epoch": 0, "phase": "dense", "test": {"accuracy": 0.5, "loss": 1.0},
             "weight_density": {"overall": 1.0},
             "activation_density": {"train": {"overall": 0.4}, "test": None}}
    (d / rundir.METRICS_NAME).write_text(json.dumps(epoch) + "\n"
                                         + json.dumps({**epoch, "epoch": 1}) + "\n")
    code = ("import sys\nfrom accelsim.cli import main\n"
            f"assert main(['show-run', {str(d)!r}]) == 0\n"
            "print('torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip().splitlines()[-1] == "False"
    assert "acdc at sparsity None" in out.stdout and "2/3 epochs (unfinished)" in out.stdout
