"""Figures and the HTML report: every figure renders to PNG and SVG from small fixtures
(conftest.py: simulated tiny Reports, fake sweep-store rows, a fake training run directory),
the files are checked, and the report is one self-contained page."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from accelsim import api
from plots.data import PASSES, load_rows
from plots.figures import FIGURE_KINDS, pareto_front, plot
from plots.points import area_proxy, point_totals, sparsity_of
from plots.report import build_report, report_sections
from plots.runs import load_run
from tests.plots.plot_checks import check_png, check_svg


# ---- every figure, PNG and SVG ----------------------------------------------------------------
def _cases(reports, store_rows, run_dir, gpu_file) -> dict[str, tuple]:
    """kind -> (source, options, texts the SVG must contain)"""
    return {
        "sparsity": (reports, {}, ("weight sparsity (%)", "speedup over", "forward",
                                   "backward-input", "backward-weight", "T<2,5>",
                                   "DaDianNao")),
        "heatmap": (store_rows, {"workload": "step-00000040.trace"} | {
            "where": {"trace": "runs/a/step-00000040.trace"}},
            ("lookahead h (steps)", "lookaside d (lanes)", "speedup over")),
        "layers": (reports["T<2,5>"][1], {"gpu": gpu_file},
                   ("layer", "speedup over", "simulated", "measured GPU",
                    "conv2", "backward-weight")),
        "pareto": (store_rows, {"where": {"backend.kind": "bit-parallel"}}, (
            "relative area", "energy per training step (µJ)", "Pareto front",
            "training steps per second", "where backend.kind=bit-parallel")),
        "training": (run_dir, {}, ("epoch", "loss (cross-entropy, nats)", "top-1 accuracy (%)",
                                   "density (% non-zero)", "dead neurons (% of ReLU outputs)")),
        "density": (run_dir, {}, ("layer", "density (% non-zero)", "ReLU site",
                                  "saved activations (backward-weight)", "relu2")),
    }


def test_every_kind_has_a_case(reports, store_rows, run_dir, gpu_file):
    assert set(_cases(reports, store_rows, run_dir, gpu_file)) == set(FIGURE_KINDS)


@pytest.mark.parametrize("kind", list(FIGURE_KINDS))
def test_figure_renders_png_and_svg(kind, reports, store_rows, run_dir, gpu_file, tmp_path):
    source, options, texts = _cases(reports, store_rows, run_dir, gpu_file)[kind]
    png, svg = tmp_path / f"{kind}.png", tmp_path / "sub" / f"{kind}.svg"
    plot(kind, source, png, **options)
    plot(kind, source, svg, **options)
    check_png(png)
    check_svg(svg, *texts)
    # atomic writes leave no temporary files behind
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted(
        [png.name, svg.name])


def test_speedups_match_the_reports(reports):
    rows = load_rows(reports)
    sparse_90 = reports["T<2,5>"][1]
    mine = [r for r in rows if r["label"] == "T<2,5>" and sparsity_of(r) == 0.9]
    for p in PASSES:
        assert point_totals(mine, p).speedup == pytest.approx(sparse_90.totals()[p].speedup)
    assert point_totals(mine).speedup == pytest.approx(sparse_90.totals()["training_step"].speedup)
    assert {r["hardware_digest"] for r in mine} == {sparse_90.hardware.digest()}
    assert all(r["frontend.lookahead"] == 2 for r in mine)
    dense = [r for r in rows if r["label"] == "DaDianNao"]
    assert point_totals(dense).speedup == pytest.approx(1.0)


def test_store_files_read_back(store_rows, store_files, tmp_path):
    for path in store_files.values():
        rows = load_rows(path)
        assert len(rows) == len(store_rows)
        assert {type(r["frontend.lookahead"]) for r in rows} == {int}
        assert point_totals(rows).speedup == pytest.approx(point_totals(store_rows).speedup)
    plot("pareto", store_files["sqlite"], tmp_path / "p.svg", cost="energy")
    check_svg(tmp_path / "p.svg", "energy per training step (µJ)")
    plot("heatmap", store_files["csv"], tmp_path / "h.png", workload="runs/b/step-00000040.trace",
         where={"backend.kind": "tcle"})
    check_png(tmp_path / "h.png")


def test_report_json_and_simulate_csv_inputs(reports, tmp_path):
    rep = reports["T<2,5>"][1]
    (tmp_path / "r.json").write_text(json.dumps(rep.to_dict()))
    (tmp_path / "r.csv").write_text(rep.to_csv())
    from_json, from_csv = load_rows(tmp_path / "r.json"), load_rows(tmp_path / "r.csv")
    for rows in (from_json, from_csv):
        assert point_totals(rows, "forward").speedup == pytest.approx(
            rep.totals()["forward"].speedup)
    plot("layers", tmp_path / "r.csv", tmp_path / "l.svg")
    check_svg(tmp_path / "l.svg", "conv1", "fc")


def test_helpers(store_rows):
    assert pareto_front([(1, 1.0), (2, 0.5), (2, 2.0), (3, 2.0), (4, 3.0)]) == [0, 2, 4]
    small = {"array.tiles": 4, "array.rows": 4, "array.columns": 1, "array.lanes": 8,
             "frontend.kind": "tcl", "frontend.lookahead": 0, "frontend.lookaside": 0}
    assert area_proxy(small) == 128
    assert area_proxy({**small, "frontend.lookahead": 2, "frontend.lookaside": 5}) > 128
    assert area_proxy({**small, "frontend.kind": "dense", "frontend.lookahead": 2}) == 128
    assert sparsity_of({"trace": "synthetic:resnet50/imagenet/swat-u@0.85"}) == 0.85
    assert sparsity_of({"trace": "x.trace"}) is None


def test_pareto_uses_area_mm2_when_present(store_rows, tmp_path):
    rows = [{**r, "area_mm2": 1.0 + r["frontend.lookahead"]} for r in store_rows]
    plot("pareto", rows, tmp_path / "p.svg", cost="area")
    check_svg(tmp_path / "p.svg", "area (mm²)")


def test_run_reader(run_dir):
    run = load_run(run_dir)
    assert run.config["method"] == "swat-u" and len(run.metrics) == 3 and len(run.traces) == 1


# ---- the report -------------------------------------------------------------------------------
class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.refs += [v or "" for k, v in attrs if k in ("src", "href", "xlink:href", "action")]


def check_self_contained(text: str) -> _Links:
    parser = _Links()
    parser.feed(text)
    # in-page anchors and inline data (the heatmap's raster) only
    outside = [r[:60] for r in parser.refs if not r.startswith(("#", "data:image/"))]
    assert not outside, outside
    assert not {"script", "link", "img", "iframe", "object"} & parser.tags
    assert not re.search(r"url\((?!#)", text), "CSS url() to something outside the page"
    assert "@import" not in text
    return parser


def test_report_of_a_run_directory(run_dir, gpu_file, tmp_path):
    out = build_report(run_dir, tmp_path / "report.html", gpu=gpu_file)
    text = out.read_text()
    assert report_sections(text) == ["What was run", "Training", "Hardware and workloads",
                                     "Totals", "Per-layer results", "GPU comparison"]
    check_self_contained(text)
    assert text.count("<svg") == 3                  # curves, density, per-layer bars
    assert "swat-u" in text and "step-00000080.trace" in text and "conv2" in text
    assert "backward-weight" in text and "NVIDIA H100" in text
    from accelsim import __version__

    assert f"accelsim {__version__}" in text and re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", text)
    # the simulated totals are those of the run's latest trace
    rep = api.simulate_trace(run_dir)
    assert f"{rep.totals()['training_step'].speedup:.2f}×" in text
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_report_of_sweep_results(store_files, tmp_path):
    out = build_report(store_files["sqlite"], tmp_path / "r.html")
    text = out.read_text()
    assert report_sections(text) == ["Hardware and workloads", "Totals",
                                     "Per-layer results of the fastest design point",
                                     "Sweep figures"]
    check_self_contained(text)
    # per-layer bars + speedup vs sparsity + heatmap + Pareto
    assert text.count("<svg") == 4
    assert "lookahead h (steps)" in text and "weight sparsity (%)" in text
    # ids of the inline figures are unique across the page
    ids = re.findall(r'\bid="([^"]+)"', text)
    assert len(ids) == len(set(ids))


def test_report_opens_in_a_headless_browser(run_dir, tmp_path):
    browser = next((shutil.which(b) for b in ("chromium-headless-shell", "chromium",
                                              "chromium-browser", "google-chrome")
                    if shutil.which(b)), None)
    if browser is None:
        pytest.skip("no Chromium installed (apt-get install chromium-headless-shell)")
    out = build_report(run_dir, tmp_path / "report.html")
    shot = tmp_path / "shot.png"
    common = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
              f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*common, "--dump-dom", out.as_uri()], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert "Per-layer results" in dom and dom.count("<svg") == 3
    subprocess.run([*common, f"--screenshot={shot}", "--window-size=1200,2400", out.as_uri()],
                   capture_output=True, timeout=60, check=True)
    check_png(shot)
