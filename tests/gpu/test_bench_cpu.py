"""The harness without a GPU: statistics, break-even, cases, the CLI, a whole case timed on
CPU through the interpreter, and the results file read back by `accelsim validate`'s loader."""

from __future__ import annotations

import json

import numpy as np
import pytest

from accelsim.cli import main
from accelsim.errors import ConfigError
from accelsim.gpu import bench, timing

torch = pytest.importorskip("torch")
pytest.importorskip("triton")


def test_summarize_and_break_even():
    s = timing.summarize([1.0, 2.0, 3.0, 4.0, 100.0])
    assert s["median_ms"] == 3.0 and s["q1_ms"] == 2.0 and s["q3_ms"] == 4.0
    assert s["iqr_ms"] == 2.0 and s["reps"] == 5 and s["min_ms"] == 1.0
    assert timing.summarize([2.5])["iqr_ms"] == 0.0
    with pytest.raises(ConfigError):
        timing.summarize([])
    assert bench.break_even([(0.9, 2.0), (0.5, 0.5)])["value"] == pytest.approx(0.5 + 0.4 / 3)
    assert bench.break_even([(0.5, 1.5), (0.9, 3)])["value"] is None
    assert "slower" in bench.break_even([(0.5, 0.2), (0.9, 0.9)])["note"]


def test_timer_refuses_few_reps_on_a_gpu_and_times_on_cpu():
    with pytest.raises(ConfigError, match="at least 50"):
        timing.Timer("cuda", reps=10)
    t = timing.Timer("cpu", reps=4, warmup=1)
    calls = []
    out = t.measure({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")})
    assert out["a"]["reps"] == 4 and out["b"]["graph"] is False and len(calls) == 10
    assert calls[2:4] == ["a", "b"] and calls[4:6] == ["b", "a"]  # interleaved, rotating
    assert "interpreter" in t.method()["timer"]


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
        (name, p) for name in ("conv", "down", "dw", "fc") for p in bench.PASSES}
    fwd = next(c for c in cases if c.layer == "down" and c.pass_name == "forward")
    np.testing.assert_array_equal(fwd.weight, ops["down"]["forward"]["weight"])
    assert fwd.activation.shape[0] == 5
    np.testing.assert_array_equal(fwd.activation[2:4], ops["down"]["forward"]["activation"])
    assert fwd.params.stride == (2, 2)
    assert next(c for c in cases if c.layer == "dw").params.groups == 8


def test_a_trace_timed_is_validate_ready(make_trace, tmp_path, device):
    from accelsim.measured import load_gpu_results

    path, _ = make_trace(encoding="float32")
    reps = 1 if device == "cpu" else 50
    result = bench.bench_trace(path, reps=reps, warmup=0, device=device, layers=["fc", "dw"],
                               baselines=("dense_fp32", "dense_tf32", "cusparse_csr",
                                          "semi_24"))
    rows = result["rows"]
    assert len(rows) == 6
    assert all(r["max_rel_error_vs_fp32"] < 1e-4 for r in rows), \
        [(r["layer"], r["pass"], r["max_rel_error_vs_fp32"]) for r in rows]
    dw = next(r for r in rows if r["layer"] == "dw")
    assert "grouped" in dw["skipped"]["cusparse_csr"]
    if device == "cpu":
        assert "CUDA" in next(r for r in rows if r["layer"] == "fc")["skipped"]["semi_24"]
    bw = next(r for r in rows if r["pass"] == "backward_weight")
    assert {"ours_compress", "ours_kernel", "ours_total", "ours_sddmm_total"} <= set(bw["timings"])
    out = bench.write_json(result, tmp_path / "r.json")
    assert json.loads(out.read_text())["schema"] == bench.SCHEMA
    loaded = load_gpu_results(out)
    assert len(loaded.speedups) == 6 and loaded.device == result["device"]
    assert len(load_gpu_results(out, baseline="dense_tf32").speedups) == 6


def test_synthetic_sweep_has_break_even_rows(device):
    shape = bench.SyntheticShape(in_channels=8, out_channels=8, size=4, batch=2)
    reps = 1 if device == "cpu" else 50
    result = bench.bench_synthetic(shape, [0.5, 0.9], [0.0], reps=reps, warmup=0, device=device,
                                   passes=("forward",), baselines=("dense_fp32",))
    assert len(result["rows"]) == 2 and result["break_even"]
    assert all(r["max_rel_error_vs_fp32"] < 1e-4 for r in result["rows"])


def test_cli_without_gpu_is_one_line(capsys, monkeypatch):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the no-GPU message cannot be produced")
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    assert main(["gpu-bench", "--synthetic", "--out", "x.json"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no CUDA GPU available" in err
    assert main(["gpu-bench", "--out", "x.json"]) == 2
    assert "TRACE_OR_RUN_DIR or --synthetic" in capsys.readouterr().err
    assert main(["gpu-bench", "--synthetic", "--passes", "sideways", "--out", "x.json"]) == 2
    assert "unknown sideways" in capsys.readouterr().err


def test_cli_runs_a_trace(make_trace, tmp_path, capsys, device):
    path, _ = make_trace(encoding="float32")
    out = tmp_path / "g.json"
    reps = "2" if device == "cpu" else "50"
    assert main(["gpu-bench", str(path), "--layers", "fc", "--passes", "forward", "--reps", reps,
                 "--warmup", "0", "--baselines", "dense_fp32", "--out", str(out),
                 "--quiet"]) == 0
    assert "1 layer-pass rows" in capsys.readouterr().out
    assert json.loads(out.read_text())["layers"][0]["layer"] == "fc"
