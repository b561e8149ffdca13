"""Value profiles: fit -> write -> read round trip, the reader's one-line errors, synthetic
traces drawn from a profile reproduce its statistics, layer mapping, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from accelsim.cli.dispatch import main
from accelsim.errors import ProfileError
from accelsim.trace.profile import (
    SHIPPED,
    Histogram,
    read_profile,
    shipped_profile_path,
    write_profile,
)
from accelsim.trace.profile_fit import fit_clustering, fit_profile, role_samples
from accelsim.trace.profiled import channel_counts, clustered_mask, neighbour_agreement
from accelsim.trace.synthetic import SyntheticSpec, generate_layers, write_synthetic_trace

DIGITS = shipped_profile_path("digits-cnn")


@pytest.fixture(scope="module")
def legacy_trace(tmp_path_factory):
    """A small trace with all three passes to fit on (the uncalibrated generator)."""
    spec = SyntheticSpec.for_method("digits-cnn", "swat-u", 0.9, dataset="digits", batch=4,
                                    profile=None, seed=1)
    return write_synthetic_trace(spec, tmp_path_factory.mktemp("p") / "l.trace",
                                 encoding="float32")


@pytest.fixture(scope="module")
def fitted(legacy_trace, tmp_path_factory):
    path = tmp_path_factory.mktemp("p") / "profile.json"
    return write_profile(fit_profile(legacy_trace), path)


def test_round_trip(legacy_trace, fitted):
    profile = read_profile(fitted)
    again = fit_profile(legacy_trace)
    assert profile.to_dict() == json.loads(json.dumps(again.to_dict()))
    assert [lp.name for lp in profile.layers] == ["conv1", "conv2", "conv3", "fc"]
    assert profile.model == "digits-cnn" and profile.dataset == "digits"
    assert profile.layers[0].depth == 0.0 and profile.layers[-1].depth == 1.0


def test_shipped_profiles_read():
    for model in SHIPPED:
        profile = read_profile(shipped_profile_path(model))
        assert profile.model == model and profile.method == "swat-u"
    assert shipped_profile_path("resnet50") == shipped_profile_path("resnet20")


def _corrupt(path, tmp_path, edit):
    data = json.loads(path.read_text())
    edit(data)
    out = tmp_path / "bad.json"
    out.write_text(json.dumps(data))
    return out


def _role(data):
    return data["layers"][1]["roles"]["grad"]


@pytest.mark.parametrize("edit, words", [
    (lambda d: d.update(format="x"), "not an accelsim profile"),
    (lambda d: d.update(version=99), "version 99"),
    (lambda d: d.pop("model"), "model is missing"),
    (lambda d: d.update(layers=[]), "layers is missing or empty"),
    (lambda d: d["layers"][0].update(kind="pool"), "layers[0].kind"),
    (lambda d: d["layers"][0]["roles"].pop("saved"), "layers[0].roles must hold"),
    (lambda d: _role(d).update(density=1.5), "density = 1.5 is outside"),
    (lambda d: _role(d).update(positive="x"), "positive = 'x' is not a finite number"),
    (lambda d: _role(d)["magnitude"].update(p=[0.5, 0.1]), "sums to 0.6000"),
    (lambda d: _role(d).update(magnitude=None), "magnitude is missing"),
    (lambda d: _role(d).update(channel_density=[0.5] * 3), "must be a list of 11"),
    (lambda d: _role(d).update(channel_density=[0.9] + [0.1] * 10), "must not decrease"),
    (lambda d: d["layers"][1]["roles"]["weight"].update(spatial={"shape": [3, 3],
                                                                  "density": [1.0]}),
     "spatial.density must be a list of 9"),
])
def test_reader_errors(fitted, tmp_path, edit, words):
    bad = _corrupt(fitted, tmp_path, edit)
    with pytest.raises(ProfileError) as err:
        read_profile(bad)
    message = str(err.value)
    assert words in message and str(bad) in message and "\n" not in message


@pytest.mark.parametrize("text, words", [
    ("{", "not valid JSON"), ("", "not valid JSON"), ("[1, 2]", "not an accelsim profile"),
])
def test_reader_errors_on_text(tmp_path, text, words):
    bad = tmp_path / "p.json"
    bad.write_text(text)
    with pytest.raises(ProfileError, match=words):
        read_profile(bad)
    with pytest.raises(ProfileError, match="cannot read it"):
        read_profile(tmp_path / "missing.json")


def test_histogram_sampling_matches():
    rng = np.random.default_rng(0)
    values = rng.standard_normal(20_000) * 3 - 8
    h = Histogram.of(values)
    draws = h.sample(rng, 20_000)
    for q in (0.1, 0.5, 0.9):
        assert abs(np.quantile(draws, q) - np.quantile(values, q)) < 0.2
        assert abs(h.quantile(q) - np.quantile(values, q)) < 0.2


def test_channel_counts_exact():
    counts = channel_counts(100, np.array([0.0, 0.1, 0.9, 0.5]), 40)
    assert counts.sum() == 100 and counts.max() <= 40 and counts[0] == 0
    assert channel_counts(160, np.array([0.1, 0.2, 0.3, 0.4]), 40).tolist() == [40] * 4


def test_clustering_fit_recovers_sigma():
    rng = np.random.default_rng(3)
    counts = np.full(8, 4 * 16 * 16 // 3)
    for sigma in (0.0, 1.0, 2.0):
        mask = clustered_mask((4, 8, 16, 16), counts, 1, sigma, rng)
        fitted_sigma, shared = fit_clustering(mask, seed=7)
        assert abs(fitted_sigma - sigma) <= 0.5, sigma
        assert 0.0 <= shared <= 0.3


def test_synthetic_reproduces_profile_statistics(tmp_path):
    """A small-layer synthetic trace drawn from the shipped digits profile, fitted again,
    gives back the profile's densities, signs, magnitudes and zero clustering."""
    spec = SyntheticSpec.for_method("digits-cnn", "swat-u", 0.9, dataset="digits", batch=16,
                                    seed=5)
    assert spec.profile == "shipped"
    profile = read_profile(DIGITS)
    back = fit_profile(write_synthetic_trace(spec, tmp_path / "s.trace", encoding="float32"))
    for want, got in zip(profile.layers[1:3], back.layers[1:3], strict=True):
        for role in ("weight", "activation", "saved", "grad"):
            a, b = want.roles[role], got.roles[role]
            where = f"{want.name} {role}"
            assert abs(a.density - b.density) <= 0.01 + 0.05 * a.density, where
            assert abs(a.positive - b.positive) <= 0.05, where
            for q in (0.1, 0.5, 0.9):
                tol = 2.0 if role == "grad" else 0.75  # octaves
                assert abs(a.magnitude.quantile(q) - b.magnitude.quantile(q)) <= tol, where
            assert abs(a.clustering - b.clustering) <= 0.3, where
            assert abs(a.channel_density[5] - b.channel_density[5]) <= 0.05, where


def test_profiled_operands_contract():
    spec = SyntheticSpec.for_method("digits-cnn", "swat-u", 0.8, dataset="digits", batch=3,
                                    seed=2)
    profile = read_profile(DIGITS)
    for index, (g, ops) in enumerate(generate_layers(spec)):
        w, a = ops["forward"]["weight"], ops["forward"]["activation"]
        saved, grad = ops["backward_weight"]["activation"], ops["backward_weight"]["grad"]
        density = 1.0 if index == 0 else 0.2
        assert np.count_nonzero(w) == round(density * w.size), g.name
        assert np.all((saved == 0) | (saved == a)), g.name  # the saved is a subset of forward
        if np.count_nonzero(saved) and np.count_nonzero(saved) < np.count_nonzero(a):
            assert np.abs(saved[saved != 0]).min() >= np.abs(a[(a != 0) & (saved == 0)]).min()
        lp = profile.layers[index]
        assert abs(np.count_nonzero(grad) / grad.size - lp.roles["grad"].density) < 0.01
        if index:
            assert ops["backward_input"]["grad"] is grad


def test_explicit_densities_override_the_profile():
    spec = SyntheticSpec("digits-cnn", dataset="digits", batch=2, activation_sparsity=0.7,
                         grad_sparsity=0.25)
    for index, (g, ops) in enumerate(generate_layers(spec)):
        grad = ops["backward_weight"]["grad"]
        assert np.count_nonzero(grad) == round(0.75 * grad.size), g.name
        if index:
            a = ops["forward"]["activation"]
            assert abs(np.count_nonzero(a) - round(0.3 * a.size)) <= a.shape[1], g.name


def test_layer_mapping_by_role_and_depth():
    profile = read_profile(shipped_profile_path("resnet20"))
    names = [lp.name for lp in profile.layers]
    assert profile.layer_for(0, 54, "conv").name == names[0]
    assert profile.layer_for(1, 54, "conv").name != names[0]  # the first maps only to first
    assert profile.layer_for(53, 54, "linear").kind == "linear"
    assert profile.layer_for(52, 54, "conv").name == names[-2]
    middle = profile.layer_for(27, 54, "conv")
    assert abs(middle.depth - 0.5) <= 1.0 / (len(names) - 1)


def test_legacy_spec_dict_and_round_trip():
    spec = SyntheticSpec("digits-cnn", dataset="digits", profile="none")
    assert spec.profile is None and "profile" not in spec.to_dict()
    assert spec.activation_sparsity == 0.5 and spec.grad_sparsity == 0.0
    assert SyntheticSpec.from_dict(spec.to_dict()) == spec
    calibrated = SyntheticSpec("digits-cnn", dataset="digits")
    assert SyntheticSpec.from_dict(calibrated.to_dict()) == calibrated


def test_bad_profile_reference():
    with pytest.raises(ProfileError, match="cannot read it"):
        SyntheticSpec("digits-cnn", dataset="digits", profile="/nonexistent/p.json")
    with pytest.raises(Exception, match="profile = 3"):
        SyntheticSpec("digits-cnn", dataset="digits", profile=3)


def test_role_samples_split():
    rng = np.random.default_rng(0)
    x = np.exp2(rng.normal(-5, 2, (2, 3, 4, 4))).astype(np.float32)
    x[0, 1] = 0.0
    parts = role_samples(x, 1)
    assert parts["channel_density"].tolist() == [1.0, 0.5, 1.0]
    assert parts["magnitude"].max() == 0.0 and len(parts["sample_offset"]) == 2
    assert len(parts["channel_offset"]) == 5  # (sample, channel) planes with non-zeros
    assert parts["spatial"].shape == (4, 4)
    assert neighbour_agreement(x != 0) == 1.0


# ---- CLI ---------------------------------------------------------------------------------
def test_cli_profile_and_synthetic(legacy_trace, tmp_path, capsys):
    out = tmp_path / "p.json"
    assert main(["profile", str(legacy_trace), "--out", str(out)]) == 0
    assert read_profile(out).model == "digits-cnn"
    trace = tmp_path / "s.trace"
    assert main(["synthetic", "--model", "digits-cnn", "--dataset", "digits", "--method",
                 "swat-u", "--sparsity", "0.9", "--profile", str(out), "--out",
                 str(trace)]) == 0
    assert main(["synthetic", "--model", "digits-cnn", "--dataset", "digits", "--profile",
                 "none", "--out", str(tmp_path / "l.trace")]) == 0
    capsys.readouterr()


@pytest.mark.parametrize("argv, words", [
    (["profile", "{missing}", "--out", "{tmp}/p.json"], "does not exist"),
    (["profile", "{trace}", "--out", "{tmp}"], "is a directory"),
    (["synthetic", "--model", "digits-cnn", "--profile", "{tmp}/none.json", "--out",
      "{tmp}/s.trace"], "cannot read it"),
    (["synthetic", "--model", "digits-cnn", "--profile", "{bad}", "--out", "{tmp}/s.trace"],
     "not valid json"),
])
def test_cli_errors(legacy_trace, tmp_path, capsys, argv, words):
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    fill = {"missing": str(tmp_path / "nothing"), "tmp": str(tmp_path),
            "trace": str(legacy_trace), "bad": str(bad)}
    assert main([a.format(**fill) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err.lower(), err


def test_cli_profile_needs_all_passes(tmp_path, capsys):
    from accelsim.trace import TraceMetadata, TraceWriter

    spec = SyntheticSpec("digits-cnn", dataset="digits", profile=None)
    path = tmp_path / "inference.trace"
    md = TraceMetadata(model="digits-cnn", dataset="digits", method="dense", mode="inference")
    with TraceWriter(path, md) as writer:
        for g, ops in generate_layers(spec):
            writer.add_layer(g, {"forward": ops["forward"]})
    assert main(["profile", str(path), "--out", str(tmp_path / "p.json")]) == 2
    assert "has no backward_weight pass" in capsys.readouterr().err
