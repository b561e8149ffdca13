"""benchmarks/gpu_check.py --dry-run: the whole device script on CPU through the interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("triton")

ROOT = Path(__file__).resolve().parents[2]


def test_dry_run_writes_every_stage_and_a_validate_ready_file(tmp_path):
    from accelsim.measured import load_gpu_results

    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--dry-run", "--out-dir",
         str(tmp_path), "--resnet-layers", "0", "--pytest-args",
         "tests/gpu/test_kernels.py -k bad_inputs"],
        capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads((tmp_path / "gpu-cpu-triton-interpreter.json").read_text())
    assert doc["device"] == "cpu (triton interpreter)" and doc["dry_run"] is True
    assert list(doc["stages"]) == ["environment", "compile", "tests", "resnet", "trace", "total"]
    env = doc["environment"]
    assert env["torch"] and env["triton"] and env["numpy"]
    assert doc["stages"]["tests"]["returncode"] == 0, doc["stages"]["tests"]["tail"]
    rows = doc["stages"]["resnet"]["rows"]
    assert len(rows) == 6 and {r["pass"] for r in rows} == {"forward", "backward_input",
                                                            "backward_weight"}
    assert all(r["max_rel_error_vs_fp32"] < 1e-4 for r in rows)
    trace_rows = doc["stages"]["trace"]["rows"]
    assert all(r["max_rel_error_vs_fp32"] < 1e-4 for r in trace_rows)
    validate = tmp_path / "gpu-cpu-triton-interpreter-validate.json"
    assert len(load_gpu_results(validate).speedups) == len(trace_rows) == 11
    assert (tmp_path / "gpu-cpu-triton-interpreter-demo.trace").is_file()
