"""The parts of the GPU harness that run without a GPU: statistics, break-even, cases, CLI."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from accelsim.cli import main
from accelsim.gpu import bench


def test_summarize_and_break_even():
    s = bench.summarize([1.0, 2.0, 3.0, 4.0, 100.0])
    assert s["median_ms"] == 3.0 and s["q1_ms"] == 2.0 and s["q3_ms"] == 4.0
    assert s["iqr_ms"] == 2.0 and s["reps"] == 5
    assert bench.break_even([(0.9, 2.0), (0.5, 0.5)])["value"] == pytest.approx(0.5 + 0.4 / 3)
    assert bench.break_even([(0.5, 1.5), (0.9, 3)])["value"] is None
    assert "slower" in bench.break_even([(0.5, 0.2), (0.9, 0.9)])["note"]


def test_synthetic_case_has_exact_sparsity():
    shape = bench.SyntheticShape(in_channels=16, out_channels=8, size=9, kernel=3, stride=2,
                                 padding=1, batch=2)
    case = bench.synthetic_case(shape, "forward", 0.75, 0.5)
    assert np.count_nonzero(case.weight) == 8 * 16 * 9 // 4
    assert np.count_nonzero(case.activation) == 2 * 16 * 81 // 2
    assert case.grad.shape == (2, 8, 5, 5)
    lin = bench.synthetic_case(bench.SyntheticShape(kind="linear", batch=3), "forward", 0.9, 0.0)
    assert lin.weight.shape == (64, 256) and lin.activation.shape == (3, 256)


def test_trace_cases_use_the_real_operands(make_trace):
    path, ops = make_trace(encoding="float32")
    cases = list(bench.trace_cases(path, batch=5))
    assert {(c.layer, c.pass_name) for c in cases} == {
        (name, p) for name in ("conv", "down", "fc") for p in bench.PASSES}
    fwd = next(c for c in cases if c.layer == "down" and c.pass_name == "forward")
    np.testing.assert_array_equal(fwd.weight, ops["down"]["forward"]["weight"])
    a = ops["down"]["forward"]["activation"]
    assert fwd.activation.shape[0] == 5
    np.testing.assert_array_equal(fwd.activation[2:4], a)  # repeated cyclically
    assert fwd.params.stride == (2, 2)


def test_cli_without_gpu_is_one_line(capsys):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert main(["gpu-bench", "--synthetic", "--out", "x.json"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no CUDA GPU available" in err
    assert main(["gpu-bench", "--out", "x.json"]) == 2
    assert "TRACE_OR_RUN_DIR or --synthetic" in capsys.readouterr().err
    assert main(["gpu-bench", "--synthetic", "--passes", "sideways", "--out", "x.json"]) == 2
    assert "unknown sideways" in capsys.readouterr().err


def test_import_accelsim_does_not_import_torch():
    code = ("import sys, accelsim, accelsim.gpu, accelsim.gpu.build, accelsim.gpu.reference, "
            "accelsim.gpu.ops, accelsim.gpu.bench; assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
