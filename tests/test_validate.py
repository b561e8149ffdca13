"""`accelsim validate`: simulated vs measured speedups, on CPU with GPU results files written
here (the minimal {"layers": [...]} format and the JSON of `accelsim gpu-bench`)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from accelsim import api
from accelsim.cli import main
from accelsim.errors import AccelsimError
from accelsim.measured import GpuResults, load_gpu_results
from accelsim.validate import ValidationResult, spearman, validate
from plots.data import PlotError
from plots.validation import plot_validation_scatter, write_figures

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PASS_ORDER = ("forward", "backward_input", "backward_weight")


@pytest.fixture(scope="module")
def trace(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("validate") / "digits.trace"
    return api.synthetic_trace(out, model="digits-cnn", dataset="digits", method="swat-u",
                               sparsity=0.9, batch=2, seed=0)


@pytest.fixture(scope="module")
def simulated(trace) -> dict[tuple[str, str], float]:
    report = api.simulate_trace(trace)
    return {(lr.geometry.name, p): float(b.speedup)
            for lr in report.layers for p, b in lr.passes.items()}


def write_minimal(path: Path, speedups: dict[tuple[str, str], float], **extra) -> Path:
    path.write_text(json.dumps({"layers": [{"layer": k[0], "pass": k[1], "speedup": v}
                                           for k, v in speedups.items()], **extra}))
    return path


def write_bench(path: Path, speedups: dict[tuple[str, str], float],
                tf32: dict[tuple[str, str], float] | None = None) -> Path:
    """The shape of `accelsim gpu-bench`'s JSON (accelsim.gpu.bench._result)."""
    rows = []
    for (layer, p), v in speedups.items():
        sp = {"ours_total_vs_dense_fp32": v, "ours_kernel_vs_dense_fp32": 2 * v}
        if tf32 is not None and (layer, p) in tf32:
            sp["ours_total_vs_dense_tf32"] = tf32[(layer, p)]
        rows.append({"layer": layer, "pass": p, "kind": "conv", "timings": {},
                     "weight_density": 0.1, "activation_density": 0.5, "speedup": sp})
    result = {"schema": "accelsim-gpu-bench/1",
              "environment": {"gpu": "Fake GPU 80GB", "torch": "x"},
              "method": {"reps": 50}, "source": {"trace": "digits.trace", "summary": {}},
              "rows": rows,
              "layers": [{"layer": r["layer"], "pass": r["pass"],
                          "speedup": r["speedup"]["ours_total_vs_dense_fp32"]} for r in rows],
              "skipped": []}
    path.write_text(json.dumps(result))
    return path


def measured_from(simulated: dict, seed: int = 1) -> dict[tuple[str, str], float]:
    rng = np.random.default_rng(seed)
    return {k: float(rng.uniform(0.2, 3.0)) for k in simulated}


def assert_one_line(exc: BaseException) -> None:
    text = str(exc)
    assert text and "\n" not in text and "Traceback" not in text


# ---- the join ---------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["minimal", "bench"])
def test_rows_join_simulated_and_measured(tmp_path, trace, simulated, fmt):
    measured = measured_from(simulated)
    writer = write_minimal if fmt == "minimal" else write_bench
    res = validate(trace, writer(tmp_path / "gpu.json", measured))
    assert isinstance(res, ValidationResult)
    assert res.matched == len(simulated) == len(res.rows)
    assert not res.unmatched_simulated and not res.unmatched_measured
    for r in res.rows:
        assert r.simulated == simulated[(r.layer, r.pass_name)]
        assert r.measured == pytest.approx(measured[(r.layer, r.pass_name)])
        assert r.ratio == pytest.approx(r.measured / r.simulated)
    # grouped by pass in training order
    order = [PASS_ORDER.index(r.pass_name) for r in res.rows]
    assert order == sorted(order)
    if fmt == "bench":
        assert res.device == "Fake GPU 80GB"
    assert res.baseline == "dense_fp32" and res.hardware


def test_statistics_equal_scipy(tmp_path, trace, simulated):
    measured = measured_from(simulated, seed=7)
    res = validate(trace, write_minimal(tmp_path / "gpu.json", measured))
    sims = [r.simulated for r in res.rows]
    meas = [r.measured for r in res.rows]
    assert res.spearman == pytest.approx(spearmanr(sims, meas).statistic)
    for p in PASS_ORDER:
        rs = [r for r in res.rows if r.pass_name == p]
        expect = spearmanr([r.simulated for r in rs], [r.measured for r in rs]).statistic
        assert res.spearman_by_pass[p] == pytest.approx(expect)
        assert res.geomean_ratio_by_pass[p] == pytest.approx(
            math.exp(np.mean([math.log(r.measured / r.simulated) for r in rs])))
    assert res.geomean_ratio == pytest.approx(
        math.exp(np.mean(np.log(np.array(meas) / np.array(sims)))))
    data = json.loads(json.dumps(res.to_dict()))
    assert data["matched"] == len(simulated) and len(data["rows"]) == len(simulated)
    assert data["rows"][0].keys() == {"layer", "pass", "simulated", "measured", "ratio"}


def test_perfect_agreement(tmp_path, trace, simulated):
    res = validate(trace, write_minimal(tmp_path / "gpu.json", simulated))
    assert res.geomean_ratio == pytest.approx(1.0)
    assert res.spearman == pytest.approx(1.0)
    assert all(r.ratio == pytest.approx(1.0) for r in res.rows)
    scaled = validate(trace, write_minimal(tmp_path / "half.json",
                                           {k: v / 4 for k, v in simulated.items()}))
    assert scaled.geomean_ratio == pytest.approx(0.25) and scaled.spearman == pytest.approx(1.0)


def test_spearman_undefined_is_nan():
    assert math.isnan(spearman([1.0], [2.0]))
    assert math.isnan(spearman([1.0, 2.0, 3.0], [5.0, 5.0, 5.0]))
    assert spearman([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == pytest.approx(-1.0)
    with pytest.raises(AccelsimError, match="same length, got 1 simulated and 2 measured"):
        spearman([1.0], [1.0, 2.0])


def test_unmatched_pairs_are_reported(tmp_path, trace, simulated):
    keys = list(simulated)
    some = {k: 1.5 for k in keys[:5]}
    some[("ghost", "forward")] = 2.0
    res = validate(trace, write_minimal(tmp_path / "gpu.json", some))
    assert res.matched == 5
    assert res.unmatched_measured == (("ghost", "forward"),)
    # only the passes the GPU file names are simulated, so unmatched_simulated counts those
    passes = {k[1] for k in some}
    assert set(res.unmatched_simulated) == {k for k in keys[5:] if k[1] in passes}
    d = res.to_dict()
    assert d["unmatched_measured"] == 1
    assert d["unmatched_simulated"] == len(res.unmatched_simulated)
    assert any("measured only: ghost/forward" in line for line in res.summary_lines())


def test_single_pair_has_no_correlation(tmp_path, trace, simulated):
    k = next(iter(simulated))
    res = validate(trace, write_minimal(tmp_path / "gpu.json", {k: 2.0}))
    assert res.matched == 1 and math.isnan(res.spearman)
    assert json.loads(json.dumps(res.to_dict()))["spearman"] is None


def test_bench_baseline_selection(tmp_path, trace, simulated):
    fp32 = measured_from(simulated, seed=3)
    keys = list(simulated)
    tf32 = {k: v / 2 for k, v in fp32.items() if k != keys[0]}  # one row lacks tf32 timing
    path = write_bench(tmp_path / "gpu.json", fp32, tf32)
    res = validate(trace, path, baseline="dense_tf32")
    assert res.baseline == "dense_tf32"
    assert res.matched == len(keys) - 1 and keys[0] in res.unmatched_simulated
    for r in res.rows:
        assert r.measured == pytest.approx(tf32[(r.layer, r.pass_name)])
    # the reader is the one the figures use
    assert load_gpu_results(path, baseline="dense_tf32").speedups == pytest.approx(tf32)
    assert load_gpu_results(path).speedups == pytest.approx(fp32)


def test_hardware_changes_simulated_side(tmp_path, trace, simulated):
    res = validate(trace, write_minimal(tmp_path / "gpu.json", simulated), "dadiannao")
    assert all(r.simulated == pytest.approx(1.0) for r in res.rows)


# ---- bad inputs -------------------------------------------------------------------------------
def test_bad_inputs_give_one_line_errors(tmp_path, trace, simulated):
    k = next(iter(simulated))
    bad = tmp_path / "bad.json"
    cases = {
        "{not json": "not valid JSON",
        "[1, 2]": "JSON object",
        '{"layers": []}': "non-empty",
        '{"layers": [{"layer": "conv1"}]}': "numeric speedup",
        '{"layers": [{"layer": "conv1", "pass": "forward", "speedup": NaN}]}': "positive",
        '{"layers": [{"layer": "conv1", "pass": "forward", "speedup": -2}]}': "positive",
        '{"layers": [{"layer": "conv1", "pass": "fwd", "speedup": 2}]}': "'fwd' is not a pass",
        '{"rows": [{"layer": "a"}], "layers": [{"layer": "a", "pass": "forward", '
        '"speedup": 1}]}': "no \"speedup\" object",
    }
    for content, needle in cases.items():
        bad.write_text(content)
        with pytest.raises(AccelsimError, match=needle) as exc:
            validate(trace, bad)
        assert_one_line(exc.value)
    with pytest.raises(AccelsimError, match="does not exist") as exc:
        validate(trace, tmp_path / "missing.json")
    assert_one_line(exc.value)
    # nothing in common: both sides' examples are named
    other = write_minimal(tmp_path / "other.json", {("zz1", "forward"): 2.0})
    with pytest.raises(AccelsimError, match="no layer/pass") as exc:
        validate(trace, other)
    assert_one_line(exc.value)
    assert "zz1/forward" in str(exc.value) and f"{k[0]}/" in str(exc.value)
    # a baseline a minimal file cannot have, an unknown one, a baseline never timed
    minimal = write_minimal(tmp_path / "min.json", simulated)
    for path, baseline, needle in ((minimal, "dense_tf32", "only speedups over dense_fp32"),
                                   (minimal, "dense_fp64", "unknown GPU baseline"),
                                   (write_bench(tmp_path / "b.json", simulated), "semi_24",
                                    "was not timed")):
        with pytest.raises(AccelsimError, match=needle) as exc:
            validate(trace, path, baseline=baseline)
        assert_one_line(exc.value)
    with pytest.raises(AccelsimError) as exc:
        validate(tmp_path / "no.trace", minimal)
    assert_one_line(exc.value)


def test_nan_simulated_speedup_is_an_error(tmp_path, monkeypatch):
    from types import SimpleNamespace

    fake = SimpleNamespace(
        layers=[SimpleNamespace(geometry=SimpleNamespace(name="conv1"),
                                passes={"forward": SimpleNamespace(speedup=float("nan"))})],
        source="fake.trace", hardware=SimpleNamespace(name="hw"))
    monkeypatch.setattr(api, "simulate_trace", lambda *a, **k: fake)
    gpu = GpuResults({("conv1", "forward"): 2.0})
    with pytest.raises(AccelsimError, match="simulated speedup of conv1 forward is nan") as exc:
        validate("fake.trace", gpu)
    assert_one_line(exc.value)


def test_scatter_rejects_bad_rows(tmp_path):
    with pytest.raises(PlotError):
        plot_validation_scatter([], tmp_path / "s.png")
    with pytest.raises(PlotError, match="positive") as exc:
        plot_validation_scatter([{"layer": "a", "pass": "forward", "simulated": 2.0,
                                  "measured": float("nan")}])
    assert_one_line(exc.value)
    with pytest.raises(PlotError, match=".png or .svg"):
        plot_validation_scatter([{"layer": "a", "pass": "forward", "simulated": 2.0,
                                  "measured": 1.0}], tmp_path / "s.pdf")


# ---- figures and the command line -------------------------------------------------------------
def test_write_figures(tmp_path, trace, simulated):
    res = validate(trace, write_minimal(tmp_path / "gpu.json", measured_from(simulated)))
    paths = write_figures(res, tmp_path / "figs", fmt="svg")
    assert [Path(p).name for p in paths] == ["validation-scatter.svg", "validation-layers.svg"]
    for p in paths:
        root = ET.parse(p).getroot()
        assert root.tag.endswith("svg")
    scatter = Path(paths[0]).read_text()
    assert "measured speedup" in scatter and "simulated speedup" in scatter
    assert not list((tmp_path / "figs").glob(".*tmp"))  # atomic: no leftovers


def test_cli_png_table_and_json(tmp_path, trace, simulated, capsys):
    gpu = write_bench(tmp_path / "gpu.json", measured_from(simulated))
    out = tmp_path / "out"
    code = main(["validate", str(trace), "--gpu-results", str(gpu),
                 "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0
    assert "measured/simulated" in text and "Spearman" in text and "Fake GPU" in text
    for name in ("validation-scatter.png", "validation-layers.png"):
        assert (out / name).read_bytes()[:8] == PNG_MAGIC
        assert f"wrote {out / name}" in text
    code = main(["validate", str(trace), "--gpu-results", str(gpu), "--out",
                 str(out), "--format", "svg", "--json"])
    captured = capsys.readouterr()
    assert code == 0
    data = json.loads(captured.out)
    assert data["matched"] == len(simulated) and len(data["figures"]) == 2
    assert data["spearman"] == pytest.approx(validate(trace, gpu).spearman)
    for p in data["figures"]:
        ET.parse(p)


def test_cli_errors_are_one_line(tmp_path, trace, capsys):
    for gpu in (tmp_path / "missing.json",
                write_minimal(tmp_path / "z.json", {("zz", "forward"): 2.0})):
        code = main(["validate", str(trace), "--gpu-results", str(gpu),
                     "--out", str(tmp_path / "o")])
        err = capsys.readouterr().err
        assert code == 2
        assert err.startswith("accelsim validate: error:") and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_validate_needs_no_torch(tmp_path, trace, simulated):
    gpu = write_minimal(tmp_path / "gpu.json", simulated)
    code = ("import sys; from accelsim.validate import validate; "
            f"r = validate({str(trace)!r}, {str(gpu)!r}); "
            "assert r.matched > 0; assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
