"""Synthetic traces: exact densities, reproducibility, structure, clustering, ERK, method
specs, validation, file size and metadata.  Small models only (digits-cnn, resnet20,
resnet18 on CIFAR-10 at batch <= 4)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from accelsim.errors import ConfigError
from accelsim.networks.catalog import layer_table
from accelsim.spec.sparsity import layer_densities
from accelsim.trace import PASSES, open_trace
from accelsim.trace.synthetic import SyntheticSpec, generate_layers, write_synthetic_trace


def operands_by_layer(spec: SyntheticSpec):
    return [(g, ops) for g, ops in generate_layers(spec)]


def density(a: np.ndarray) -> float:
    return np.count_nonzero(a) / a.size


def targets(spec: SyntheticSpec) -> tuple[float, ...]:
    return layer_densities(layer_table(spec.model, spec.dataset, spec.input_size),
                           spec.weight_sparsity, distribution=spec.distribution,
                           first_layer_dense=spec.first_layer_dense,
                           overrides=spec.layer_sparsity)


def h_agreement(mask: np.ndarray) -> float:
    """Fraction of horizontally adjacent pixel pairs whose mask values are equal."""
    return float((mask[..., 1:] == mask[..., :-1]).mean())


# ---- exact densities, read back from a written trace -------------------------------------
SWAT_U = SyntheticSpec.for_method("resnet20", "swat-u", 0.9, dataset="cifar10", batch=2,
                                  activation_sparsity=0.6, seed=3)


@pytest.fixture(scope="module")
def swat_u_trace(tmp_path_factory):
    path = tmp_path_factory.mktemp("syn") / "swat-u.trace"
    write_synthetic_trace(SWAT_U, path, encoding="float32")
    with open_trace(path) as trace:
        layers = [(d.geometry, {p: {r: d.operand(p, r) for r in roles}
                                for p, roles in (("forward", ("weight", "activation")),
                                                 ("backward_weight", ("activation", "grad")),
                                                 ("backward_input", ("weight", "grad")))
                                if p in d.passes}, d.passes)
                  for d in trace.iter_layers()]
        summary = trace.summary()
    return layers, summary


def test_weight_density_exact_per_layer(swat_u_trace):
    layers, _ = swat_u_trace
    want = targets(SWAT_U)
    assert want[0] == 1.0 and all(d == pytest.approx(0.1) for d in want[1:])
    assert [g for g, _, _ in layers] == list(layer_table("resnet20", "cifar10"))
    for (g, ops, _), target in zip(layers, want, strict=True):
        w = ops["forward"]["weight"]
        assert w.shape == g.weight_shape()
        assert abs(density(w) - target) <= 1 / w.size, g.name
        assert np.count_nonzero(w) == round(target * w.size), g.name
    first_w = layers[0][1]["forward"]["weight"]
    assert np.count_nonzero(first_w) == first_w.size


def test_forward_activation_density_exact(swat_u_trace):
    layers, _ = swat_u_trace
    first_a = layers[0][1]["forward"]["activation"]
    assert np.count_nonzero(first_a) == first_a.size  # the input image is dense
    for g, ops, _ in layers[1:]:
        a = ops["forward"]["activation"]
        assert a.shape == g.activation_shape(SWAT_U.batch)
        assert np.count_nonzero(a) == round((1 - SWAT_U.activation_sparsity) * a.size), g.name
        assert (a >= 0).all()  # ReLU-like


def check_topk_saved(fwd: np.ndarray, saved: np.ndarray, weight_density: float) -> None:
    k = min(round(weight_density * fwd.size), np.count_nonzero(fwd))
    assert np.count_nonzero(saved) == k
    kept = saved != 0
    # a subset of the forward non-zeros, values unchanged ...
    assert (fwd[kept] != 0).all()
    np.testing.assert_array_equal(saved[kept], fwd[kept])
    # ... holding the largest magnitudes
    dropped = (fwd != 0) & ~kept
    if dropped.any() and kept.any():
        assert np.abs(saved[kept]).min() >= np.abs(fwd[dropped]).max()


def test_saved_activation_is_topk_at_weight_density(swat_u_trace):
    layers, _ = swat_u_trace
    for (g, ops, _), wd in zip(layers, targets(SWAT_U), strict=True):
        fwd, saved = ops["forward"]["activation"], ops["backward_weight"]["activation"]
        assert saved.shape == fwd.shape
        check_topk_saved(fwd, saved, wd)
        want = min(density(fwd), wd)
        assert abs(density(saved) - want) <= 1 / fwd.size, g.name
    # first layer dense (weight density 1): the saved activation is the input itself
    np.testing.assert_array_equal(layers[0][1]["backward_weight"]["activation"],
                                  layers[0][1]["forward"]["activation"])


def test_saved_topk_never_exceeds_forward_density():
    # forward density 0.05 < weight density 0.1: the saved activation is the forward one
    spec = SyntheticSpec.for_method("digits-cnn", "swat-u", 0.9, dataset="digits", batch=2,
                                    activation_sparsity=0.95)
    for (g, ops), wd in zip(operands_by_layer(spec), targets(spec), strict=True):
        fwd, saved = ops["forward"]["activation"], ops["backward_weight"]["activation"]
        check_topk_saved(fwd, saved, wd)
        if g.name != "conv1":
            np.testing.assert_array_equal(saved, fwd)


def test_saved_activation_forward_is_the_forward_activation():
    spec = SyntheticSpec("digits-cnn", dataset="digits", batch=2, saved_activation="forward")
    for _, ops in operands_by_layer(spec):
        np.testing.assert_array_equal(ops["backward_weight"]["activation"],
                                      ops["forward"]["activation"])


def test_passes_and_grads(swat_u_trace):
    layers, summary = swat_u_trace
    first_passes = layers[0][2]
    assert "backward_input" not in first_passes
    assert set(first_passes) == {"forward", "backward_weight"}
    for g, ops, passes in layers[1:]:
        assert set(passes) == set(PASSES), g.name
        np.testing.assert_array_equal(ops["backward_input"]["weight"], ops["forward"]["weight"])
        np.testing.assert_array_equal(ops["backward_input"]["grad"],
                                      ops["backward_weight"]["grad"])
    for g, ops, _ in layers:
        grad = ops["backward_weight"]["grad"]
        assert grad.shape == g.grad_shape(SWAT_U.batch)
        assert np.count_nonzero(grad) == grad.size
    # the manifest's measured densities agree with the masks
    for (g, ops, _), entry in zip(layers, summary["layers"], strict=True):
        assert entry["layer"] == g.name
        fwd = entry["passes"]["forward"]
        assert fwd["weight_density"] == density(ops["forward"]["weight"])
        assert fwd["activation_density"] == density(ops["forward"]["activation"])


def test_grad_sparsity_exact():
    spec = SyntheticSpec("digits-cnn", dataset="digits", batch=2, grad_sparsity=0.75)
    for g, ops in operands_by_layer(spec):
        grad = ops["backward_weight"]["grad"]
        assert np.count_nonzero(grad) == round(0.25 * grad.size), g.name


def test_first_layer_sparse_when_not_kept_dense():
    spec = SyntheticSpec("digits-cnn", dataset="digits", weight_sparsity=0.8,
                         first_layer_dense=False)
    for g, ops in operands_by_layer(spec):
        w = ops["forward"]["weight"]
        assert np.count_nonzero(w) == round(0.2 * w.size), g.name


def test_layer_sparsity_override():
    spec = SyntheticSpec("digits-cnn", dataset="digits", weight_sparsity=0.9,
                         layer_sparsity={"conv2": 0.5})
    got = {g.name: density(ops["forward"]["weight"]) for g, ops in operands_by_layer(spec)}
    assert got["conv2"] == 0.5
    assert got["conv1"] == 1.0
    assert got["conv3"] == pytest.approx(0.1, abs=1 / 73728)
    with pytest.raises(ConfigError):
        operands_by_layer(SyntheticSpec("digits-cnn", dataset="digits",
                                        layer_sparsity={"conv9": 0.5}))


# ---- reproducibility --------------------------------------------------------------------
def decoded(path):
    out = {}
    with open_trace(path) as trace:
        for layer in trace.iter_layers():
            for p in layer.passes:
                for role in ("weight", "activation", "grad"):
                    if role in layer.entry.passes[p]:
                        out[(layer.name, p, role)] = layer.operand(p, role).tobytes()
    return out


def test_same_spec_same_operands_other_seed_differs(tmp_path):
    spec = SyntheticSpec("digits-cnn", dataset="digits", batch=2, seed=11)
    a = decoded(write_synthetic_trace(spec, tmp_path / "a.trace"))
    b = decoded(write_synthetic_trace(SyntheticSpec("digits-cnn", dataset="digits", batch=2,
                                                    seed=11), tmp_path / "b.trace"))
    assert a == b
    c = decoded(write_synthetic_trace(SyntheticSpec("digits-cnn", dataset="digits", batch=2,
                                                    seed=12), tmp_path / "c.trace"))
    assert set(c) == set(a)
    assert all(c[k] != a[k] for k in a if k[2] == "weight")
    assert any(c[k] != a[k] for k in a if k[2] == "activation")


# ---- structured weights -----------------------------------------------------------------
def test_channel_structure_removes_whole_kernels():
    spec = SyntheticSpec("resnet20", batch=1, weight_sparsity=0.7, weight_structure="channel",
                         first_layer_dense=False)
    for g, ops in operands_by_layer(spec):
        w = ops["forward"]["weight"]
        if g.kind == "conv":
            nz = (w != 0).reshape(w.shape[0], w.shape[1], -1)
            alive = nz.any(axis=2)
            assert (nz.all(axis=2) == alive).all(), g.name  # all-zero or all-non-zero
            assert abs(alive.mean() - 0.3) <= 1 / alive.size, g.name
        else:  # a linear layer has no kernels: unstructured at the same density
            assert np.count_nonzero(w) == round(0.3 * w.size)


def test_filter_structure_removes_whole_filters():
    spec = SyntheticSpec("resnet20", batch=1, weight_sparsity=0.75, weight_structure="filter",
                         first_layer_dense=False)
    for g, ops in operands_by_layer(spec):
        w = ops["forward"]["weight"]
        nz = (w != 0).reshape(w.shape[0], -1)
        alive = nz.any(axis=1)
        assert (nz.all(axis=1) == alive).all(), g.name
        assert abs(alive.mean() - 0.25) <= 1 / alive.size, g.name
        assert abs(density(w) - 0.25) <= 1 / w.shape[0], g.name


# ---- spatial clustering of activation zeros ---------------------------------------------
def test_activation_clustering():
    p = 0.3  # activation density
    iid = p * p + (1 - p) * (1 - p)

    def agreement(clustering):
        spec = SyntheticSpec("resnet20", batch=2, activation_sparsity=1 - p,
                             activation_clustering=clustering)
        return [h_agreement(ops["forward"]["activation"] != 0)
                for i, (g, ops) in enumerate(operands_by_layer(spec)) if i and g.kind == "conv"]

    flat, clustered = agreement(0), agreement(3)
    assert all(abs(v - iid) < 0.03 for v in flat)
    assert min(clustered) > max(flat) + 0.2
    assert np.mean(agreement(1)) > np.mean(flat) + 0.1
    assert np.mean(clustered) > np.mean(agreement(1))


# ---- ERK --------------------------------------------------------------------------------
@pytest.mark.parametrize("first_layer_dense", [False, True])
def test_erk_budget_and_shape(first_layer_dense):
    s = 0.9
    spec = SyntheticSpec("resnet20", batch=1, weight_sparsity=s, distribution="erk",
                         first_layer_dense=first_layer_dense)
    layers = operands_by_layer(spec)
    total = sum(g.weight_count for g, _ in layers)
    nnz = sum(np.count_nonzero(ops["forward"]["weight"]) for _, ops in layers)
    assert abs(nnz - (1 - s) * total) <= 0.005 * (1 - s) * total
    d = {g.name: density(ops["forward"]["weight"]) for g, ops in layers}
    assert all(0 < v <= 1 for v in d.values())
    big = [g.name for g, _ in layers if g.kind == "conv" and g.kernel_h == 3
           and g.in_channels == g.out_channels == 64]
    assert big
    for small in ("conv1", "fc"):
        assert all(d[small] > d[b] for b in big), small
    assert max(d[b] for b in big) < 1 - s  # big layers pay for the small ones


def test_erk_via_swat_erk_method():
    spec = SyntheticSpec.for_method("resnet20", "swat-erk", 0.95, batch=1)
    assert spec.distribution == "erk" and not spec.first_layer_dense
    assert spec.saved_activation == "topk"
    layers = operands_by_layer(spec)
    want = targets(spec)
    assert want[0] < 1.0  # ERK does not force the first layer dense
    for (g, ops), target in zip(layers, want, strict=True):
        w = ops["forward"]["weight"]
        assert abs(density(w) - target) <= 1 / w.size, g.name
        check_topk_saved(ops["forward"]["activation"], ops["backward_weight"]["activation"],
                         target)


# ---- method specs and validation --------------------------------------------------------
def test_for_method_swat_u():
    spec = SyntheticSpec.for_method("resnet18", "swat-u", 0.9)
    assert spec.saved_activation == "topk"
    assert spec.distribution == "uniform"
    assert spec.first_layer_dense is True
    assert spec.weight_sparsity == 0.9 and spec.method == "swat-u"


def test_for_method_dense():
    spec = SyntheticSpec.for_method("digits-cnn", "dense", 0.9, dataset="digits")
    assert spec.weight_sparsity == 0.0 and spec.method == "dense"
    assert spec.saved_activation == "forward"
    assert targets(spec) == (1.0,) * 4
    for _, ops in operands_by_layer(spec):
        w = ops["forward"]["weight"]
        assert np.count_nonzero(w) == w.size


def test_for_method_acdc():
    spec = SyntheticSpec.for_method("digits-cnn", "acdc", 0.9, dataset="digits")
    assert (spec.distribution, spec.first_layer_dense, spec.saved_activation) == (
        "uniform", False, "forward")


@pytest.mark.parametrize("method", ["swat-m", "nope"])
def test_for_method_rejects(method):
    with pytest.raises(ConfigError):
        SyntheticSpec.for_method("resnet18", method, 0.9)


@pytest.mark.parametrize("kw", [
    {"weight_sparsity": 1.0},
    {"weight_sparsity": -0.1},
    {"weight_sparsity": math.nan},
    {"weight_sparsity": "abc"},
    {"activation_sparsity": 1.0},
    {"grad_sparsity": -0.5},
    {"batch": 0},
    {"batch": -1},
    {"batch": 1.5},
    {"batch": True},
    {"weight_structure": "block"},
    {"distribution": "random"},
    {"saved_activation": "bottomk"},
    {"activation_clustering": -1.0},
    {"activation_clustering": math.nan},
    {"activation_clustering": math.inf},
    {"activation_clustering": "3"},
])
def test_invalid_spec(kw):
    with pytest.raises(ConfigError):
        SyntheticSpec("resnet18", **kw)


# ---- trace size and metadata ------------------------------------------------------------
def test_swat_u_resnet18_batch4_is_small(tmp_path):
    spec = SyntheticSpec.for_method("resnet18", "swat-u", 0.9, dataset="cifar10", batch=4)
    path = write_synthetic_trace(spec, tmp_path / "r18.trace", encoding="fixed16")
    assert path.stat().st_size < 20e6
    with open_trace(path) as trace:
        assert len(trace.layers) == 21
        assert trace.manifest["encoding"] == "fixed16"


def test_metadata(tmp_path):
    spec = SyntheticSpec.for_method("digits-cnn", "swat-u", 0.8, dataset="digits", batch=3,
                                    seed=5)
    path = write_synthetic_trace(spec, tmp_path / "m.trace")
    assert path == tmp_path / "m.trace"
    with open_trace(path) as trace:
        md = trace.metadata
        assert (md.model, md.dataset, md.method) == ("digits-cnn", "digits", "swat-u")
        assert md.batch_indices == (0, 1, 2) and md.batch == 3
        assert md.method_params["weight_sparsity"] == 0.8
        assert md.extra["synthetic"] == spec.to_dict()
        assert SyntheticSpec(**md.extra["synthetic"]) == spec
        assert md.extra["input"] == [1, 8, 8]
        assert trace.geometries == layer_table("digits-cnn", "digits")
    assert not list(tmp_path.glob(".*tmp*"))  # the temp file is gone
