"""simulate(): traces in, reports out; bad inputs give one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from accelsim import simulate, simulate_layer
from accelsim.cli import main
from accelsim.errors import AccelsimError, ConfigError
from accelsim.simulate import simulate_operands
from accelsim.trace import open_trace


def test_simulate_trace_matches_per_layer(make_trace):
    path, ops = make_trace(encoding="fixed16")
    report = simulate(path)
    assert [lr.geometry.name for lr in report.layers] == list(ops)
    with open_trace(path) as trace:
        for lr, g in zip(report.layers, trace.geometries, strict=True):
            direct = simulate_operands(g, ops[g.name], report.hardware,
                                       reference=report.reference_hardware)
            assert direct.to_dict() == lr.to_dict()
    totals = report.totals()
    assert totals["training_step"].compute_cycles == sum(
        b.compute_cycles for lr in report.layers for b in lr.passes.values())
    assert totals["backward"].base_cycles == (totals["backward_input"].base_cycles
                                              + totals["backward_weight"].base_cycles)
    d = report.to_dict()
    assert d["hardware_digest"] == report.hardware.digest()
    assert report.to_csv().splitlines()[0].startswith("layer,pass,base_cycles")


def test_simulate_is_pure(make_trace):
    path, _ = make_trace()
    assert simulate(path).to_dict() == simulate(path).to_dict()


def test_simulate_selected_passes(make_trace):
    path, _ = make_trace()
    report = simulate(path, passes=["backward_weight"])
    assert all(list(lr.passes) == ["backward_weight"] for lr in report.layers)
    with pytest.raises(ConfigError, match="unknown pass"):
        simulate(path, passes=["sideways"])


@pytest.mark.parametrize("kwargs, words", [
    ({"weights": np.ones((4, 3, 3, 3)), "activations": np.ones((1, 5, 6, 6))}, "multiple"),
    ({"weights": np.ones((4, 3)), "activations": np.ones((1, 5))}, "linear weights"),
    ({"weights": np.ones((4, 3, 3, 3)), "activations": np.ones((1, 3, 6))}, "give conv"),
    ({"weights": np.ones((4, 3, 3, 3)), "activations": np.full((1, 3, 6, 6), np.nan)}, "NaN"),
    ({"weights": np.ones((4, 3, 3, 3)), "activations": np.ones((1, 3, 6, 6)),
      "output_grad": np.ones((1, 4, 5, 5))}, "output_grad has shape"),
    ({"weights": np.ones((4, 3, 7, 7)), "activations": np.ones((1, 3, 2, 2))}, "do not make a layer"),
])
def test_simulate_layer_bad_input(kwargs, words):
    with pytest.raises(AccelsimError, match=words):
        simulate_layer(**kwargs)


def test_bad_hardware_is_one_line():
    with pytest.raises(AccelsimError) as exc:
        simulate_layer(np.ones((4, 3)), np.ones((1, 3)), hardware={"array": {"lanes": 0}})
    assert "lanes" in str(exc.value) and "\n" not in str(exc.value)


def test_cli_simulate_synthetic_and_trace(capsys, make_trace, tmp_path):
    assert main(["simulate", "--synthetic", "resnet20", "--dataset", "cifar10", "--sparsity",
                 "0.8", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["totals"]["forward"]["speedup"] > 1.5
    assert {"forward", "backward_input", "backward_weight", "backward", "training_step"} == \
        set(data["totals"])
    path, _ = make_trace()
    assert main(["simulate", str(path), "--hardware", "dadiannao", "--csv"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1].startswith("*total*,training_step")
    assert main(["simulate", str(path), "--passes", "forward"]) == 0
    assert "speedup" in capsys.readouterr().out


def test_cli_simulate_layer(capsys, tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "W.npy", np.where(rng.random((32, 16, 3, 3)) < 0.2, 1.0, 0.0))
    np.save(tmp_path / "A.npy", rng.random((1, 16, 8, 8)))
    np.save(tmp_path / "G.npy", rng.random((1, 32, 8, 8)))
    hw_file = tmp_path / "hw.toml"
    hw_file.write_text("[array]\ntiles = 2\n[frontend]\nlookahead = 4\nlookaside = 3\nshape = 'L'\n")
    assert main(["simulate-layer", "--weights", str(tmp_path / "W.npy"), "--activations",
                 str(tmp_path / "A.npy"), "--output-grad", str(tmp_path / "G.npy"),
                 "--stride", "1", "--padding", "1", "--hardware", str(hw_file), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert set(d) == {"forward", "backward_input", "backward_weight"}
    assert d["forward"]["speedup"] > 1
    code = main(["simulate-layer", "--weights", str(tmp_path / "nope.npy"), "--activations",
                 str(tmp_path / "A.npy")])
    err = capsys.readouterr().err
    assert code == 2 and "does not exist" in err and len(err.strip().splitlines()) == 1
    hw_file.write_text("[frontend]\nlookahead = -1\n")
    code = main(["simulate", "--synthetic", "resnet20", "--hardware", str(hw_file)])
    err = capsys.readouterr().err
    assert code == 2 and "lookahead" in err and len(err.strip().splitlines()) == 1


def test_golden_resnet20_swat_u_90():
    """End-to-end golden numbers: synthetic SWAT-U 90% ResNet-20/CIFAR (seed 0, batch 1) on
    the default T<2,5> array.  Base cycles follow from the geometry alone; compute and ideal
    cycles change only if the synthetic generator, lowering or scheduler changes (then
    re-derive them on purpose)."""
    from accelsim.api import simulate_synthetic
    from accelsim.spec.hardware import default_hardware

    t = simulate_synthetic("resnet20", dataset="cifar10", method="swat-u", sparsity=0.9).totals()
    got = {k: (v.base_cycles, v.compute_cycles, v.ideal_cycles) for k, v in t.items()}
    assert got == {
        "forward": (102916, 38244, 20797),
        "backward_input": (97537, 35137, 19905),
        "backward_weight": (95488, 34407, 13634),
        "backward": (193025, 69544, 33539),
        "training_step": (295941, 107788, 54336),
    }
    # the row-major traversal (the order before issue 14) keeps the numbers of before
    row_major = default_hardware().replace(**{"frontend.traversal": "row-major"})
    t = simulate_synthetic("resnet20", row_major, dataset="cifar10", method="swat-u",
                           sparsity=0.9).totals()
    got = {k: (v.base_cycles, v.compute_cycles, v.ideal_cycles) for k, v in t.items()}
    assert got == {
        "forward": (102916, 37348, 20797),
        "backward_input": (97537, 35393, 19905),
        "backward_weight": (95488, 34472, 13634),
        "backward": (193025, 69865, 33539),
        "training_step": (295941, 107213, 54336),
    }
