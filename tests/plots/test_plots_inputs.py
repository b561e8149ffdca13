"""Plots: bad inputs give one-line errors, the ``plot``/``report`` subcommands work, and
no torch anywhere in ``plots``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from accelsim import api
from accelsim.cli import main
from plots.canvas import save_figure
from plots.data import PlotError, load_gpu_results, load_rows, rows_from_report
from plots.figures import plot
from plots.report import build_report
from tests.plots.plot_checks import assert_one_line, check_png, check_svg

REPO = Path(__file__).resolve().parents[2]


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
    check_svg(tmp_path / "h.svg", "forward speedup over own dense twin (×)",
              "trace=runs/a/step-00000040.trace", "backend.kind=tcle")
    code, _, err = run(capsys, "plot", "sparsity", store_files["csv"], "--passes",
                       "forward,backward_weight", "--out", tmp_path / "s.svg")
    assert code == 0, err
    check_svg(tmp_path / "s.svg", "T<2,3> tcle", "weight sparsity (%)")
    code, _, err = run(capsys, "plot", "pareto", store_files["csv"], "--cost", "area",
                       "--where", "backend.kind=bit-parallel", "--title", "My sweep",
                       "--dpi", "80", "--figsize", "7x4", "--out", tmp_path / "p.png")
    assert code == 0, err
    assert check_png(tmp_path / "p.png")[:2] == (7 * 80, 4 * 80)
    code, _, err = run(capsys, "plot", "pareto", store_files["csv"], "--cost", "area",
                       "--out", tmp_path / "p.png")    # the proxy cannot cost tcle
    assert code == 2 and "cannot cost a tcle back end" in err and err.count("\n") == 1
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
