"""Figures and the HTML report: every figure renders to PNG and SVG from small fixtures
(simulated tiny Reports, fake sweep-store rows, a fake training run directory), the files
are checked, the report is one self-contained page, bad inputs give one-line errors, and
the ``plot``/``report`` subcommands work.  No torch anywhere in ``plots``."""

from __future__ import annotations

import csv
import json
import re
import shutil
import sqlite3
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree

import pytest

from accelsim import api, load_hardware
from accelsim.cli import main
from plots.canvas import save_figure
from plots.data import TOTAL, PlotError, load_gpu_results, load_rows, rows_from_report
from plots.figures import FIGURE_KINDS, pareto_front, plot
from plots.points import area_proxy, point_totals, sparsity_of
from plots.report import build_report, report_sections
from plots.runs import load_run

REPO = Path(__file__).resolve().parents[2]
PASSES = ("forward", "backward_input", "backward_weight")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# ---- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def reports() -> dict[str, list]:
    """Tiny simulated Reports: the digits CNN on two architectures at two sparsities."""
    sparse, dense = load_hardware(None), load_hardware("dadiannao")
    return {label: [api.simulate_synthetic("digits-cnn", hw, dataset="digits", sparsity=s)
                    for s in (0.5, 0.9)]
            for label, hw in (("T<2,5>", sparse), ("DaDianNao", dense))}


def _store_rows() -> list[dict]:
    """Fake sweep-store rows: 2 workloads x lookahead {0,1,2} x lookaside {0,3} x 2 back
    ends, 3 layers x 3 passes, plus *total* rows; the speedup grows with h, d, sparsity."""
    rows = []
    for trace, sparsity in (("runs/a/step-00000040.trace", 0.8),
                            ("runs/b/step-00000040.trace", 0.9)):
        for backend in ("bit-parallel", "tcle"):
            for h in (0, 1, 2):
                for d in (0, 3):
                    hw = {"array.tiles": 16, "array.rows": 16, "array.columns": 1,
                          "array.lanes": 16, "frontend.kind": "tcl", "frontend.shape": "T",
                          "frontend.lookahead": h, "frontend.lookaside": d,
                          "backend.kind": backend}
                    digest = f"{backend}-{h}-{d}".ljust(64, "0")
                    gain = (1 + 0.4 * h + 0.1 * d) * (1 + sparsity) * (2 if backend == "tcle" else 1)
                    for p in PASSES:
                        tot = {"base_cycles": 0, "compute_cycles": 0, "stall_cycles": 0,
                               "ideal_cycles": 0, "energy_pj": 0.0, "base_energy_pj": 0.0}
                        for i, layer in enumerate(("conv1", "conv2", "fc")):
                            base = 1000 * (i + 1)
                            compute = int(base / gain) + 1
                            r = {"trace": trace, "trace_digest": trace[5:6] * 64,
                                 "hardware_digest": digest, "sparsity": sparsity, **hw,
                                 "layer": layer, "pass": p, "base_cycles": base,
                                 "compute_cycles": compute, "ideal_cycles": base // 10,
                                 "stall_cycles": 0, "speedup": base / compute,
                                 "energy_pj": 50.0 * compute + 10 * h, "base_energy_pj": 50.0 * base}
                            rows.append(r)
                            for k in tot:
                                tot[k] += r[k]
                        rows.append({**rows[-1], **tot, "layer": TOTAL,
                                     "speedup": tot["base_cycles"] / tot["compute_cycles"]})
    return rows


@pytest.fixture(scope="module")
def store_rows() -> list[dict]:
    return _store_rows()


@pytest.fixture(scope="module")
def store_files(tmp_path_factory, store_rows) -> dict[str, Path]:
    """The fake rows as a SQLite store and as a CSV export."""
    d = tmp_path_factory.mktemp("store")
    cols = list(store_rows[0])
    db = d / "results.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE meta (key TEXT, value TEXT)")
    con.execute("CREATE TABLE results (" + ", ".join(f'"{c}"' for c in cols) + ")")
    con.executemany("INSERT INTO results VALUES (" + ", ".join("?" * len(cols)) + ")",
                    [[r[c] for c in cols] for r in store_rows])
    con.commit()
    con.close()
    path = d / "results.csv"
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, cols)
        w.writeheader()
        w.writerows(store_rows)
    return {"sqlite": db, "csv": path}


def _epoch(e: int) -> dict:
    layers = ("conv1", "conv2", "fc")
    return {
        "epoch": e, "step": 40 * (e + 1), "lr": 0.05, "phase": None, "seconds": 1.0,
        "train": {"loss": 2.0 / (e + 1), "accuracy": 0.5 + 0.1 * e, "samples": 1000},
        "test": {"loss": 2.2 / (e + 1), "accuracy": 0.45 + 0.1 * e, "samples": 300},
        "weight_density": {"overall": 0.12, "layers": {"conv1": 1.0, "conv2": 0.1, "fc": 0.1}},
        "zero_filters": {"overall": 0.0, "layers": dict.fromkeys(layers, 0.0)},
        "activation_density": {
            "test": {"overall": 0.55, "layers": {"conv1": 1.0, "conv2": 0.5, "fc": 0.4}},
            "train": {"overall": 0.5, "layers": {"conv1": 1.0, "conv2": 0.45, "fc": 0.35}}},
        "dead_neurons": {"dnr": 0.3 + 0.01 * e, "dynamic_dnr": 0.25, "static_dnr": 0.05 + 0.01 * e,
                         "samples": 300, "neurons_per_sample": 1000, "dead": 90000,
                         "static_neurons": 50,
                         "sites": {"relu1": {"neurons": 600, "dnr": 0.3, "static_dnr": 0.05,
                                             "dynamic_dnr": 0.25},
                                   "relu2": {"neurons": 400, "dnr": 0.31, "static_dnr": 0.06,
                                             "dynamic_dnr": 0.25}}},
        "flops": None,
        "measured_densities": {"conv2": {"weight": 0.1, "saved_activation": 0.1, "target": 0.1},
                               "fc": {"weight": 0.1, "saved_activation": 0.12, "target": 0.1}},
        "target_densities": {"conv1": 1.0, "conv2": 0.1, "fc": 0.1},
    }


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A fake training run directory: config.json, 3 epochs of metrics.jsonl (the keys of
    training.metrics.epoch_metrics), and one synthetic trace of the digits CNN."""
    d = tmp_path_factory.mktemp("run")
    (d / "config.json").write_text(json.dumps({
        "method": "swat-u", "sparsity": 0.9, "model": "digits-cnn", "data": "digits",
        "epochs": 3, "batch_size": 64, "lr": 0.05, "seed": 0, "method_params": {}}))
    (d / "metrics.jsonl").write_text("".join(json.dumps(_epoch(e)) + "\n" for e in range(3)))
    api.synthetic_trace(d / "traces" / "step-00000080.trace", model="digits-cnn",
                        dataset="digits", method="swat-u", sparsity=0.9, batch=1)
    return d


@pytest.fixture(scope="module")
def gpu_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("gpu") / "gpu.json"
    path.write_text(json.dumps({"device": "NVIDIA H100", "layers": [
        {"layer": "conv2", "pass": "forward", "speedup": 1.8},
        {"layer": "conv2", "pass": "backward_weight", "speedup": 1.3},
        {"layer": "fc", "pass": "forward", "speedup": 0.9}]}))
    return path


# ---- file checks ------------------------------------------------------------------------------
def check_png(path: Path) -> None:
    data = path.read_bytes()
    assert len(data) > 1000 and data[:8] == PNG_MAGIC, path


def check_svg(path: Path, *texts: str) -> str:
    text = path.read_text()
    root = ElementTree.fromstring(text)          # parses as XML
    assert root.tag.endswith("svg")
    found = " ".join(t for t in root.itertext())
    for t in texts:
        assert t in found, f"{t!r} not in the text of {path.name}"
    return found


def assert_one_line(exc: BaseException) -> None:
    assert "\n" not in str(exc) and str(exc).strip()


# ---- every figure, PNG and SVG ----------------------------------------------------------------
def _cases(reports, store_rows, run_dir, gpu_file) -> dict[str, tuple]:
    """kind -> (source, options, texts the SVG must contain)"""
    return {
        "sparsity": (reports, {}, ("weight sparsity (%)", "speedup over dense (×)", "forward",
                                   "backward-input", "backward-weight", "T<2,5>",
                                   "DaDianNao")),
        "heatmap": (store_rows, {"workload": "step-00000040.trace"} | {
            "where": {"trace": "runs/a/step-00000040.trace"}},
            ("lookahead h (steps)", "lookaside d (lanes)", "speedup over dense (×)")),
        "layers": (reports["T<2,5>"][1], {"gpu": gpu_file},
                   ("layer", "speedup over dense (×)", "simulated", "measured GPU",
                    "conv2", "backward-weight")),
        "pareto": (store_rows, {}, ("relative area", "energy per training step (µJ)",
                                    "Pareto front", "speedup over dense (×)")),
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


# ---- bad inputs: one-line errors --------------------------------------------------------------
def test_bad_inputs(tmp_path, store_rows, reports, run_dir):
    cases = [
        lambda: plot("bogus", store_rows, tmp_path / "x.png"),
        lambda: plot("pareto", store_rows, tmp_path / "x.pdf"),
        lambda: save_figure(plot("pareto", store_rows), tmp_path / "x.jpg"),
        lambda: plot("pareto", tmp_path / "missing.sqlite", tmp_path / "x.png"),
        lambda: plot("pareto", [], tmp_path / "x.png"),
        lambda: plot("training", tmp_path / "no-run", tmp_path / "x.png"),
        lambda: plot("layers", store_rows, tmp_path / "x.png"),            # many points
        lambda: plot("heatmap", store_rows, tmp_path / "x.png"),           # two workloads
        lambda: plot("heatmap", reports["T<2,5>"], tmp_path / "x.png", workload="nope"),
        lambda: plot("sparsity", [{**r, "sparsity": None, "trace": "x"} for r in store_rows],
                     tmp_path / "x.png"),                                 # no sparsity
        lambda: plot("pareto", store_rows, tmp_path / "x.png", where={"no.such": 1}),
        lambda: plot("pareto", store_rows, tmp_path / "x.png", where={"backend.kind": "x"}),
        lambda: plot("layers", reports["T<2,5>"][0], tmp_path / "x.png",
                     gpu=tmp_path / "no-gpu.json"),
        lambda: load_rows(42),
    ]
    for make in cases:
        with pytest.raises(PlotError) as exc:
            make()
        assert_one_line(exc.value)
    empty = tmp_path / "empty-run"
    empty.mkdir()
    (empty / "metrics.jsonl").write_text("")
    (empty / "config.json").write_text("{}")
    for make in (lambda: plot("training", empty, tmp_path / "x.png"),
                 lambda: build_report(empty, tmp_path / "r.html"),
                 lambda: build_report(tmp_path / "nothing-here", tmp_path / "r.html")):
        with pytest.raises(PlotError) as exc:
            make()
        assert_one_line(exc.value)
    bad = tmp_path / "bad.json"
    for content in ("{not json", '{"layers": []}', '{"layers": [{"layer": "a"}]}',
                    '{"layers": [{"layer": "a", "pass": "forward", "speedup": -1}]}'):
        bad.write_text(content)
        with pytest.raises(PlotError) as exc:
            load_gpu_results(bad)
        assert_one_line(exc.value)
    unrelated = tmp_path / "other.json"
    unrelated.write_text(json.dumps({"layers": [{"layer": "zz", "pass": "forward",
                                                 "speedup": 2}]}))
    with pytest.raises(PlotError, match="none of the simulated"):
        plot("layers", reports["T<2,5>"][0], gpu=unrelated)
    assert not list(tmp_path.glob("x.*")) and not (tmp_path / "r.html").exists()


def test_failed_write_keeps_the_old_file(store_rows, tmp_path):
    out = tmp_path / "fig.svg"
    out.write_text("old")
    with pytest.raises(PlotError):
        plot("heatmap", store_rows, out)              # two workloads: error before writing
    assert out.read_text() == "old"
    rows = rows_from_report(api.simulate_synthetic("digits-cnn", None, dataset="digits"))
    plot("layers", rows, out)
    assert out.read_text() != "old" and [p.name for p in tmp_path.iterdir()] == ["fig.svg"]


# ---- CLI --------------------------------------------------------------------------------------
def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_plot_and_report(capsys, tmp_path, run_dir, store_files, gpu_file):
    trace = next((run_dir / "traces").glob("*.trace"))
    code, out, err = run(capsys, "plot", "layers", trace, "--gpu-results", gpu_file, "--out",
                         tmp_path / "l.svg")
    assert code == 0 and "wrote" in out, err
    check_svg(tmp_path / "l.svg", "measured GPU", "conv2")
    code, _, err = run(capsys, "plot", "training", run_dir, "--out", tmp_path / "t.png")
    assert code == 0, err
    check_png(tmp_path / "t.png")
    code, _, err = run(capsys, "plot", "density", run_dir, "--epoch", "2", "--out",
                       tmp_path / "d.svg")
    assert code == 0, err
    check_svg(tmp_path / "d.svg", "epoch 2")
    code, _, err = run(capsys, "plot", "heatmap", store_files["sqlite"], "--where",
                       "trace=runs/a/step-00000040.trace", "--where", "backend.kind=tcle",
                       "--passes", "forward", "--out", tmp_path / "h.svg")
    assert code == 0, err
    check_svg(tmp_path / "h.svg", "forward speedup over dense (×)")
    code, _, err = run(capsys, "plot", "sparsity", store_files["csv"], "--passes",
                       "forward,backward_weight", "--out", tmp_path / "s.svg")
    assert code == 0, err
    check_svg(tmp_path / "s.svg", "T<2,3> tcle", "weight sparsity (%)")
    code, _, err = run(capsys, "plot", "pareto", store_files["csv"], "--cost", "area",
                       "--title", "My sweep", "--out", tmp_path / "p.png")
    assert code == 0, err
    code, out, err = run(capsys, "report", run_dir, "--gpu-results", gpu_file, "--out",
                         tmp_path / "r.html")
    assert code == 0 and "GPU comparison" in (tmp_path / "r.html").read_text(), err


@pytest.mark.parametrize("argv, message", [
    (["plot", "bogus", "{run}", "--out", "{tmp}/x.png"], "unknown figure kind"),
    (["plot", "training", "{tmp}/missing", "--out", "{tmp}/x.png"], "does not exist"),
    (["plot", "training", "{run}", "--out", "{tmp}/x.gif"], ".png or .svg"),
    (["plot", "training", "{run}", "--gpu-results", "g.json", "--out", "{tmp}/x.png"],
     "does not apply"),
    (["plot", "pareto", "{run}/config.json", "--out", "{tmp}/x.png"],
     "not a simulation report"),
    (["plot", "layers", "{run}", "--where", "oops", "--out", "{tmp}/x.png"], "KEY=VALUE"),
    (["report", "{tmp}/missing", "--out", "{tmp}/r.html"], "does not exist"),
])
def test_cli_errors_are_one_line(capsys, tmp_path, run_dir, argv, message):
    code, _, err = run(capsys, *(a.format(run=run_dir, tmp=tmp_path) for a in argv))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_cli_help(capsys):
    for name in ("plot", "report"):
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0
        assert f"accelsim {name}" in capsys.readouterr().out


def test_plots_never_import_torch(run_dir, tmp_path):
    code = (
        "import sys\n"
        "from plots.figures import plot\n"
        "from plots.report import build_report\n"
        f"plot('training', {str(run_dir)!r}, {str(tmp_path / 't.svg')!r})\n"
        f"build_report({str(run_dir)!r}, {str(tmp_path / 'r.html')!r})\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for path in (REPO / "plots").glob("*.py"):
        assert not re.search(r"^\s*(import|from)\s+(torch|training)\b", path.read_text(),
                             re.M), path
