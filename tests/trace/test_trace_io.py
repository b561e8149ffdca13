"""Trace contract: round trip, laziness, atomic writes and every bad-input case."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from accelsim.errors import TraceError
from accelsim.trace import (
    SCHEMA_VERSION,
    TraceMetadata,
    TraceWriter,
    find_trace,
    list_traces,
    open_trace,
)
from accelsim.trace.schema import FIXED16_MAX


def rewrite(path, manifest_fn=None, drop=(), replace=None):
    """Copy a trace zip, editing the manifest or members (simulates corruption)."""
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    if manifest_fn:
        m = json.loads(members["manifest.json"])
        manifest_fn(m)
        members["manifest.json"] = json.dumps(m).encode()
    for name, data in (replace or {}).items():
        members[name] = data
    with zipfile.ZipFile(path, "w") as zf:
        for n, data in members.items():
            if n not in drop:
                zf.writestr(n, data)


def test_round_trip_float32_exact(make_trace, tiny_layers):
    path, ops = make_trace(encoding="float32")
    with open_trace(path) as trace:
        assert trace.metadata.step == 7 and trace.metadata.phase == "compressed"
        assert trace.metadata.batch_indices == (10, 11)
        assert trace.geometries == tiny_layers
        for layer in trace.iter_layers():
            for pass_name, roles in ops[layer.name].items():
                for role, want in roles.items():
                    np.testing.assert_array_equal(layer.operand(pass_name, role), want)
                    np.testing.assert_array_equal(layer.mask(pass_name, role), want != 0)


@pytest.mark.parametrize("encoding, rel", [("fixed16", 0.6 / FIXED16_MAX), ("float16", 2 ** -11)])
def test_round_trip_reduced_precision(make_trace, encoding, rel):
    path, ops = make_trace(encoding=encoding)
    with open_trace(path) as trace:
        layer = trace.load_layer("down")
        for role in ("weight", "activation"):
            want = ops["down"]["forward"][role]
            got = layer.operand("forward", role)
            scale = np.abs(want).max()
            assert np.abs(got - want).max() <= rel * scale * 1.0001
            # the mask is exact even where a tiny value would round to zero
            np.testing.assert_array_equal(layer.mask("forward", role), want != 0)


def test_densities_are_measured(make_trace):
    path, ops = make_trace()
    with open_trace(path) as trace:
        summary = trace.summary()
    for layer in summary["layers"]:
        fw = layer["passes"]["forward"]
        want = ops[layer["layer"]]["forward"]
        assert fw["weight_density"] == pytest.approx((want["weight"] != 0).mean())
        assert fw["activation_density"] == pytest.approx((want["activation"] != 0).mean())
        bw = layer["passes"]["backward_weight"]
        assert bw["grad_density"] == 1.0
        assert set(layer["passes"]["backward_input"]) == {"weight_density", "grad_density",
                                                          "shapes"}


def test_shared_tensors_stored_once(make_trace):
    path, _ = make_trace()
    with open_trace(path) as trace:
        entry = trace.layers[0]
        assert entry.passes["forward"]["weight"] == entry.passes["backward_input"]["weight"]
        assert entry.passes["backward_input"]["grad"] == entry.passes["backward_weight"]["grad"]
        # 4 layers x (weight, activation, saved activation, grad)
        assert len(trace.manifest["tensors"]) == 16


def test_reader_is_lazy(make_trace, monkeypatch):
    path, _ = make_trace()
    opened = []
    real_open = zipfile.ZipFile.open

    def spy(self, name, *a, **k):
        opened.append(getattr(name, "filename", name))
        return real_open(self, name, *a, **k)

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    with open_trace(path) as trace:
        assert not [n for n in opened if n.startswith("tensors/")]
        trace.load_layer("fc").operand("forward", "weight")
        touched = {n.split("/")[1] for n in opened if n.startswith("tensors/")}
        assert touched == {trace.layers[3].passes["forward"]["weight"]}


# ---- bad input -------------------------------------------------------------------------------
def test_missing_file(tmp_path):
    with pytest.raises(TraceError, match="does not exist"):
        open_trace(tmp_path / "nope.trace")


def test_truncated_file(make_trace):
    path, _ = make_trace()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(TraceError, match="truncated"):
        open_trace(path)


def test_not_a_trace(tmp_path):
    p = tmp_path / "x.trace"
    p.write_text("hello")
    with pytest.raises(TraceError, match=str(p.name)):
        open_trace(p)


def test_wrong_schema_version(make_trace):
    path, _ = make_trace()
    rewrite(path, lambda m: m.update(schema_version=SCHEMA_VERSION + 1))
    with pytest.raises(TraceError, match="schema version"):
        open_trace(path)


def test_shape_mismatch(make_trace):
    path, _ = make_trace()

    def bad(m):
        tid = m["layers"][1]["passes"]["forward"]["activation"]
        m["tensors"][tid]["shape"][1] += 1
    rewrite(path, bad)
    with pytest.raises(TraceError, match=r"layer down, forward/activation: shape"):
        open_trace(path)


def test_geometry_inconsistent(make_trace):
    path, _ = make_trace()
    rewrite(path, lambda m: m["layers"][0]["geometry"].update(output_h=99))
    with pytest.raises(TraceError, match="output_h"):
        open_trace(path)


def test_nan_rejected_on_write(tmp_path, conv3x3):
    md = TraceMetadata(model="m", dataset="d", method="x")
    w = np.zeros(conv3x3.weight_shape(), np.float32)
    a = np.zeros(conv3x3.activation_shape(1), np.float32)
    a[0, 0, 0, 0] = np.nan
    target = tmp_path / "t.trace"
    with pytest.raises(TraceError, match=r"layer conv, forward/activation: 1 NaN/inf"), \
            TraceWriter(target, md) as writer:
        writer.add_layer(conv3x3, {"forward": {"weight": w, "activation": a}})
    assert not target.exists() and not list(tmp_path.iterdir())


def test_nan_in_stored_values(make_trace):
    path, _ = make_trace(encoding="float32")
    with open_trace(path) as trace:
        tid = trace.layers[0].passes["forward"]["weight"]
        nnz = trace.manifest["tensors"][tid]["nnz"]
    import io
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.full(nnz, np.nan, np.float32))
    rewrite(path, replace={f"tensors/{tid}/values.npy": buf.getvalue()})
    # the manifest is fine; the tensor is checked when it is loaded
    with open_trace(path) as trace, \
            pytest.raises(TraceError, match=r"layer conv, forward/weight: holds NaN"):
        trace.load_layer("conv").operand("forward", "weight")


def test_nan_scale_in_manifest(make_trace):
    path, _ = make_trace()
    rewrite(path, lambda m: next(iter(m["tensors"].values())).update(scale=float("nan")))
    with pytest.raises(TraceError, match=r"manifest.tensors.t0.scale = nan must be a positive finite"):
        open_trace(path)


def test_missing_tensor_member(make_trace):
    path, _ = make_trace()
    with open_trace(path) as trace:
        tid = trace.layers[2].passes["forward"]["weight"]
    rewrite(path, drop={f"tensors/{tid}/mask.npy"})
    # the zip's directory is checked when the trace is opened (no tensor is read)
    with pytest.raises(TraceError, match=r"layer dw, forward/weight: member tensors/t\d+/mask.npy is missing"):
        open_trace(path)


def test_corrupt_mask(make_trace):
    path, _ = make_trace()
    with open_trace(path) as trace:
        tid = trace.layers[0].passes["forward"]["weight"]
    import io
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.full(27, 255, np.uint8))
    rewrite(path, replace={f"tensors/{tid}/mask.npy": buf.getvalue()})
    with open_trace(path) as trace, pytest.raises(TraceError, match="corrupt"):
        trace.load_layer(0).operand("forward", "weight")


def test_missing_manifest(make_trace):
    path, _ = make_trace()
    rewrite(path, drop={"manifest.json"})
    with pytest.raises(TraceError, match="manifest.json"):
        open_trace(path)


def test_wrong_operand_shape_on_write(tmp_path, conv3x3):
    md = TraceMetadata(model="m", dataset="d", method="x", batch_indices=(0, 1))
    w = np.zeros(conv3x3.weight_shape(), np.float32)
    a = np.zeros(conv3x3.activation_shape(1), np.float32)  # batch 1, metadata says 2
    with pytest.raises(TraceError, match=r"layer conv, forward/activation: shape \[1, 4, 5, 5\]"), \
            TraceWriter(tmp_path / "t.trace", md) as writer:
        writer.add_layer(conv3x3, {"forward": {"weight": w, "activation": a}})


def test_inference_trace_only_forward(tmp_path, linear):
    md = TraceMetadata(model="m", dataset="d", method="x", mode="inference")
    g = np.zeros(linear.grad_shape(1), np.float32)
    w = np.zeros(linear.weight_shape(), np.float32)
    with pytest.raises(TraceError, match="not a pass of a inference trace"), \
            TraceWriter(tmp_path / "t.trace", md) as writer:
        writer.add_layer(linear, {"backward_input": {"weight": w, "grad": g}})


def test_failed_rewrite_keeps_old_trace(make_trace, conv3x3):
    path, ops = make_trace(encoding="float32")
    before = path.read_bytes()
    md = TraceMetadata(model="m", dataset="d", method="x")
    with pytest.raises(RuntimeError), TraceWriter(path, md) as writer:
        writer.add_layer(conv3x3, {"forward": {"weight": ops["conv"]["forward"]["weight"],
                                               "activation": ops["conv"]["forward"]["activation"][:1]}})
        raise RuntimeError("killed half-way")
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_empty_writer_writes_nothing(tmp_path):
    md = TraceMetadata(model="m", dataset="d", method="x")
    with pytest.raises(TraceError, match="no layer"):
        TraceWriter(tmp_path / "t.trace", md).close()
    assert not list(tmp_path.iterdir())


def test_bad_metadata():
    with pytest.raises(TraceError, match="step"):
        TraceMetadata(model="m", dataset="d", method="x", step=-1)
    with pytest.raises(TraceError, match="batch_indices"):
        TraceMetadata(model="m", dataset="d", method="x", batch_indices=())


# ---- run directories ---------------------------------------------------------------------------
def test_find_trace_in_run_dir(make_trace, tmp_path):
    (tmp_path / "traces").mkdir()
    a, _ = make_trace("traces/a.trace", step=5)
    b, _ = make_trace("traces/b.trace", step=12)
    assert [s for s, _ in list_traces(tmp_path)] == [5, 12]
    assert find_trace(tmp_path) == b
    assert find_trace(tmp_path, step=5) == a
    with pytest.raises(TraceError, match="has steps 5, 12"):
        find_trace(tmp_path, step=6)


def test_empty_run_dir(tmp_path):
    with pytest.raises(TraceError, match="holds no .trace files"):
        find_trace(tmp_path)


@pytest.mark.parametrize("encoding", ["fixed16", "float16"])
def test_tiny_nonzeros_stay_nonzero(tmp_path, linear, encoding):
    md = TraceMetadata(model="m", dataset="d", method="x", mode="inference")
    w = np.zeros(linear.weight_shape(), np.float32)
    w[0, 0], w[0, 1], w[1, 2] = 1.0, 1e-9, -1e-9
    a = np.ones(linear.activation_shape(1), np.float32)
    with TraceWriter(tmp_path / "t.trace", md, encoding=encoding) as writer:
        writer.add_layer(linear, {"forward": {"weight": w, "activation": a}})
    with open_trace(tmp_path / "t.trace") as trace:
        got = trace.load_layer("fc").operand("forward", "weight")
    np.testing.assert_array_equal(got != 0, w != 0)
    assert np.sign(got[1, 2]) == -1


def test_error_in_add_layer_aborts_writer(tmp_path, conv3x3, linear):
    md = TraceMetadata(model="m", dataset="d", method="x", mode="inference")
    writer = TraceWriter(tmp_path / "t.trace", md)
    ok = {"weight": np.ones(linear.weight_shape()), "activation": np.ones((1, 8))}
    writer.add_layer(linear, {"forward": ok})
    bad = np.full(conv3x3.activation_shape(1), np.inf, np.float32)
    with pytest.raises(TraceError, match="NaN/inf"):
        writer.add_layer(conv3x3, {"forward": {"weight": np.ones(conv3x3.weight_shape()),
                                               "activation": bad}})
    with pytest.raises(TraceError, match="aborted"):
        writer.close()
    assert not list(tmp_path.iterdir())


def test_non_numeric_operand(tmp_path, linear):
    md = TraceMetadata(model="m", dataset="d", method="x", mode="inference")
    ok = {"weight": np.ones((3, 8)), "activation": np.ones((1, 8))}
    with TraceWriter(tmp_path / "t.trace", md) as writer:
        with pytest.raises(TraceError, match="not numeric"):
            writer.add_layer(linear, {"forward": {**ok, "weight": np.full((3, 8), "x")}})
        writer.add_layer(linear, {"forward": ok})  # a rejected call leaves the writer usable
    with open_trace(tmp_path / "t.trace") as trace:
        assert trace.layer_names == ("fc",)


@pytest.mark.parametrize("encoding", ["fixed16", "float16"])
def test_subnormal_tensor_is_stored_as_float32(tmp_path, linear, encoding):
    """A tensor whose largest magnitude is ~1e-40 would decode to 0 in fixed16/float16:
    it is stored exactly as float32 (its own encoding) and reads back unchanged."""
    md = TraceMetadata(model="m", dataset="d", method="x", mode="inference")
    w = np.zeros(linear.weight_shape(), np.float32)
    w[0, 0], w[1, 2] = 1e-40, -3e-41
    a = np.ones(linear.activation_shape(1), np.float32)
    with TraceWriter(tmp_path / "t.trace", md, encoding=encoding) as writer:
        writer.add_layer(linear, {"forward": {"weight": w, "activation": a}})
    with open_trace(tmp_path / "t.trace") as trace:
        assert trace.check(deep=True).ok
        tid = trace.layers[0].passes["forward"]["weight"]
        assert trace.manifest["tensors"][tid]["encoding"] == "float32"
        assert trace.manifest["encoding"] == encoding
        np.testing.assert_array_equal(trace.load_layer("fc").operand("forward", "weight"), w)
