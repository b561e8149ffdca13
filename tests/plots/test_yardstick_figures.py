"""Figures and the report on one yardstick (issue 13, items 5 and 6): fastest = least time,
titles that state the fixed parameters and filters, points named by what varied, layers in
network order, legends inside the figure and clear of the title, --dpi/--figsize, the
report's fastest point and sorted hardware table, and a report that is not .html refused."""

from __future__ import annotations

import html
import random
import re

import pytest

from accelsim import api
from accelsim.cli import main
from accelsim.explore.load import load_sweep
from accelsim.explore.run import run_sweep
from plots.data import TOTAL, PlotError, load_rows
from plots.figures import plot
from plots.points import point_key, point_totals
from plots.report import build_report
from tests.plots.plot_checks import assert_one_line, check_png

SWEEP = {"grid": {"frontend.lookahead": [1, 2], "backend.kind": ["bit-parallel", "tcle"]},
         "workloads": {"synthetic": [{"model": "digits-cnn", "dataset": "digits",
                                      "sparsity": 0.9}]}}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("sweep") / "r.sqlite"
    assert run_sweep(load_sweep(SWEEP), path, workers=1, progress=False).computed == 5
    return path


def _steps(rows):
    points = {}
    for r in rows:
        points.setdefault(r["label"], []).append(r)
    return {label: point_totals(rs) for label, rs in points.items()}


def _cell_texts(fig):
    return [float(t.get_text().rstrip("×")) for t in fig.axes[0].texts]


def test_heatmap_cell_is_the_fastest_point(store):
    steps = _steps(load_rows(store))
    fig = plot("heatmap", store)
    title = fig.get_suptitle()
    assert "fastest of backend.kind ∈ {bit-parallel, tcle}" in title
    assert fig.axes[1].get_ylabel() == "training step speedup over dadiannao (×)"
    for h, value in zip((1, 2), _cell_texts(fig), strict=True):
        cell = {k: t for k, t in steps.items() if k.startswith(f"T<{h},")}
        fastest = min(cell.values(), key=lambda t: t.time_s)
        assert value == pytest.approx(fastest.speedup, abs=0.005)
        # not the largest self-relative speedup (TCLe x1 against its own slow twin)
        assert max(cell.values(), key=lambda t: t.speedup_vs_own_dense) is not fastest
    fixed = plot("heatmap", store, where={"backend.kind": "tcle"}).get_suptitle()
    assert "fixed backend.kind = tcle" in fixed and "where backend.kind=tcle" in fixed
    assert "fastest of" not in fixed


def test_layers_in_network_order_titled_by_the_point(store):
    rows = [r for r in load_rows(store) if r["label"] == "T<1,5> tcle"]
    order = [r["layer"] for r in sorted(rows, key=lambda r: r["layer_index"])
             if r["pass"] == "forward" and r["layer"] != TOTAL]
    random.Random(0).shuffle(rows)
    fig = plot("layers", rows)
    assert [t.get_text() for t in fig.axes[-1].get_xticklabels()] == order
    assert "on T<1,5> tcle" in fig.get_suptitle()
    assert "bit-tactical T<2,5>" not in fig.get_suptitle()


def _assert_legends_clear(fig):
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    page = fig.bbox
    title = fig._suptitle.get_window_extent(renderer) if fig._suptitle else None
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    assert legends
    if title is not None:   # the title wraps to the figure's width
        assert page.x0 - 1 <= title.x0 and title.x1 <= page.x1 + 1, "title clipped"
    for legend in legends:
        box = legend.get_window_extent(renderer)
        assert page.x0 - 1 <= box.x0 and box.x1 <= page.x1 + 1, "legend clipped left/right"
        assert page.y0 - 1 <= box.y0 and box.y1 <= page.y1 + 1, "legend clipped top/bottom"
        assert title is None or not box.overlaps(title), "legend over the title"


@pytest.mark.parametrize("kind", ["sparsity", "layers", "pareto"])
def test_legends_and_titles_never_clipped_nor_overlapping(kind, store, reports):
    long = "an architecture with a rather long descriptive name " * 2
    source = {"sparsity": {long: reports["T<2,5>"], "short": reports["DaDianNao"]},
              "layers": reports["T<2,5>"][0], "pareto": store}[kind]
    _assert_legends_clear(plot(kind, source, title="A title " * 12))
    _assert_legends_clear(plot(kind, source))
    _assert_legends_clear(plot(kind, source, figsize=(4, 3)))


def test_dpi_and_figsize(store, tmp_path, capsys):
    plot("pareto", store, tmp_path / "p.png", dpi=50, figsize=(5, 3))
    assert check_png(tmp_path / "p.png") == (250, 150)
    for options in ({"dpi": 0}, {"dpi": 2.5}, {"figsize": (0, 3)}, {"figsize": "big"}):
        with pytest.raises(PlotError) as exc:
            plot("pareto", store, tmp_path / "q.png", **options)
        assert_one_line(exc.value)
    assert not (tmp_path / "q.png").exists()
    out = build_report(store, tmp_path / "r.html", figsize=(5, 3), dpi=60)
    assert re.findall(r'<svg [^>]*width="([^"]+)"', out.read_text()) == ["360pt"] * 3
    for bad in (["--dpi", "0"], ["--figsize", "5"], ["--figsize", "0x2"]):
        with pytest.raises(SystemExit) as exc:
            main(["plot", "pareto", str(store), "--out", str(tmp_path / "x.png"), *bad])
        assert exc.value.code == 2
    capsys.readouterr()


def test_report_fastest_point_is_least_time_and_tables_sorted(store, tmp_path):
    text = build_report(store, tmp_path / "r.html").read_text()
    rows = load_rows(store)
    steps = _steps(rows)
    fastest = min(steps, key=lambda k: steps[k].time_s)
    assert fastest.endswith("bit-parallel")
    section = text.split("Per-layer results of the fastest design point")[2]
    assert f"on {html.escape(fastest)} (hardware" in section.split("</p>")[0]
    table = text.split("the parameters that vary:")[1].split("</table>")[0]
    names = [html.unescape(n) for n in re.findall(r"<tr><td class=l>([^<]+)</td>", table)]
    assert names == sorted(names) and len(names) == 5
    assert "speedup over dadiannao" in text
    assert {point_key(r)[1] for r in rows if r["label"] == fastest}


def test_report_refuses_a_file_that_is_not_html(store, tmp_path, capsys):
    for name in ("r.pdf", "r.png", "r"):
        with pytest.raises(PlotError, match="give a .html or .htm file name") as exc:
            build_report(store, tmp_path / name)
        assert_one_line(exc.value)
        assert not (tmp_path / name).exists()
    assert main(["report", str(store), "--out", str(tmp_path / "r.pdf")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ".html" in err
    assert build_report(store, tmp_path / "R.HTM").exists()


def test_pareto_costs_real_area_and_energy(store):
    """Area is the area model's mm2 (a bit-serial column is not a full PE), energy the
    model's µJ; performance is the speedup over the reference."""
    rows = load_rows(store)
    fig = plot("pareto", store)
    area_ax, energy_ax = fig.axes[:2]
    assert area_ax.get_xlabel() == "area (mm²)" and "area not drawn" not in fig.get_suptitle()
    assert area_ax.get_ylabel() == "training step speedup over dadiannao (×)"
    area = {point_key(r)[1]: r["area_mm2"] for r in rows}
    xs = sorted(area_ax.collections[0].get_offsets()[:, 0])
    assert xs == pytest.approx(sorted(area.values()))
    steps = _steps(rows)
    energies = sorted(t.energy_pj / 1e6 for t in steps.values())
    assert sorted(energy_ax.collections[0].get_offsets()[:, 0]) == pytest.approx(energies)


def test_report_shows_the_energy_breakdown(store, tmp_path):
    text = build_report(store, tmp_path / "r.html").read_text()
    head = ("<th>energy (µJ)</th><th>compute</th><th>frontend</th><th>buffers</th><th>dram</th>"
            "<th>energy efficiency</th><th>area (mm²)</th>")
    assert head in text
    table = text.split(head)[1].split("</table>")[0]
    for cells in re.findall(r"<tr>(.*?)</tr>", table):
        values = re.findall(r"<td>([^<]*)</td>", cells)[1:]   # after the sparsity
        energy, parts = float(values[0]), [float(v) for v in values[1:5]]
        assert sum(parts) == pytest.approx(energy, abs=0.003)


def test_reference_for_simulated_inputs(store, tmp_path, capsys):
    trace = api.synthetic_trace(tmp_path / "d.trace", model="digits-cnn", dataset="digits",
                                method="swat-u", sparsity=0.9, batch=1, seed=0)
    default = load_rows(trace)
    assert {r["reference"] for r in default} == {"dadiannao"}
    mine = load_rows(trace, reference="bit-tactical")
    assert {r["reference"] for r in mine} == {"bit-tactical T<2,5>"}
    assert all(r["speedup"] == 1.0 for r in mine)     # the default machine against itself
    fig = plot("layers", trace, reference="bit-tactical")
    assert fig.axes[0].get_ylabel() == "speedup over bit-tactical T<2,5> (×)"
    # a store keeps its sweep's reference: another one is refused, the same one accepted
    assert load_rows(store, reference="dadiannao")
    with pytest.raises(PlotError, match="measured against dadiannao, not the --reference") as e:
        load_rows(store, reference="bit-tactical")
    assert_one_line(e.value)
    code = main(["report", str(trace), "--reference", "scnn", "--out", str(tmp_path / "r.html")])
    assert code == 0 and "speedup over scnn" in (tmp_path / "r.html").read_text()
    assert main(["plot", "pareto", str(store), "--reference", "scnn", "--out",
                 str(tmp_path / "p.png")]) == 2
    assert main(["plot", "training", str(tmp_path), "--reference", "scnn", "--out",
                 str(tmp_path / "t.png")]) == 2
    capsys.readouterr()
