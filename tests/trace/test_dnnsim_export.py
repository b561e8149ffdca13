"""DNNsim trace layout: export, round trip, what DNNsim cannot express, atomicity."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from accelsim.errors import TraceError
from accelsim.fileio import WriteError
from accelsim.spec.geometry import LayerGeometry
from accelsim.trace.dnnsim import (
    NAMES_FILE,
    PARAMS_FILE,
    dnnsim_layer_type,
    export_dnnsim,
    exporter,
    import_dnnsim,
)
from accelsim.trace.reader import open_trace
from accelsim.trace.schema import TraceMetadata
from accelsim.trace.writer import TraceWriter
from tests.trace.dnnsim_helpers import BATCH, sparse


def _conv(name: str, cin: int, cout: int, size: int, k: int | tuple[int, int] = 3,
          stride: int | tuple[int, int] = 1, pad: int | tuple[int, int] = 1, groups: int = 1,
          dilation: int = 1) -> LayerGeometry:
    kh, kw = (k, k) if isinstance(k, int) else k
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    ph, pw = (pad, pad) if isinstance(pad, int) else pad
    oh = (size + 2 * ph - dilation * (kh - 1) - 1) // sh + 1
    ow = (size + 2 * pw - dilation * (kw - 1) - 1) // sw + 1
    return LayerGeometry(name=name, kind="conv", in_channels=cin, out_channels=cout,
                         kernel_h=kh, kernel_w=kw, stride_h=sh, stride_w=sw, padding_h=ph,
                         padding_w=pw, dilation_h=dilation, dilation_w=dilation,
                         groups=groups, input_h=size, input_w=size, output_h=oh, output_w=ow)


def _network() -> list[LayerGeometry]:
    return [
        _conv("conv1", 3, 8, 8),                               # 3x3, stride 1, pad 1
        _conv("features/conv2", 8, 16, 8, stride=2),           # strided, '/' in the name
        _conv("features/dw", 16, 16, 4, groups=16),            # depthwise
        _conv("head/fc_proj", 16, 8, 4, k=1, pad=0),           # conv whose name says "fc"
        _conv("tall", 8, 8, 4, k=(3, 1), pad=1),               # non-square kernel
        LayerGeometry(name="classifier", kind="linear", in_channels=8, out_channels=10),
    ]


def _make_trace(path: Path, layers: list[LayerGeometry], seed: int = 0,
                mode: str = "inference") -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    meta = TraceMetadata(model="toy", dataset="toyset", method="dense", mode=mode,
                         batch_indices=tuple(range(10, 10 + BATCH)))
    tensors = {}
    with TraceWriter(path, meta, encoding="float32") as writer:
        for g in layers:
            ops = {"weight": sparse(rng, g.weight_shape()),
                   "activation": sparse(rng, g.activation_shape(BATCH))}
            tensors[g.name] = ops
            writer.add_layer(g, {"forward": ops})
    return tensors


@pytest.fixture()
def toy_trace(tmp_path: Path) -> tuple[Path, dict[str, dict[str, np.ndarray]]]:
    path = tmp_path / "toy.trace"
    return path, _make_trace(path, _network())


def _parse_like_dnnsim(path: Path) -> list[list[str]]:
    rows = []
    for line in path.read_text().split("\n"):
        if line:
            rows.append(line.split(","))
    return rows


# ---- round trip ------------------------------------------------------------------------
def test_round_trip_restores_operands_geometry_and_names(toy_trace, tmp_path):
    src, tensors = toy_trace
    out = export_dnnsim(src, tmp_path / "toynet")
    assert out == (tmp_path / "toynet").absolute()
    back = import_dnnsim(out, tmp_path / "back.trace", encoding="float32")
    with open_trace(src) as a, open_trace(back) as b:
        assert b.geometries == a.geometries
        assert b.layer_names == tuple(g.name for g in _network())
        for name, ops in tensors.items():
            layer = b.load_layer(name)
            assert layer.passes == ("forward",)
            for role in ("weight", "activation"):
                np.testing.assert_array_equal(layer.operand("forward", role), ops[role])
        meta = b.metadata
        assert meta.model == "toynet" and meta.dataset == "unknown"
        assert meta.method == "dnnsim-import" and meta.mode == "inference"
        assert meta.batch_indices == tuple(range(BATCH))
        assert meta.extra == {"source": "dnnsim", "batch_file": 0}


def test_round_trip_fixed16_model_and_batch_file(toy_trace, tmp_path):
    src, tensors = toy_trace
    out = export_dnnsim(src, tmp_path / "d", batch_file=3)
    assert (out / "act-conv1-3.npy").is_file() and not (out / "act-conv1-0.npy").exists()
    back = import_dnnsim(out, tmp_path / "b.trace", model="resnet-toy", dataset="toyset",
                         batch_file=3)
    with open_trace(back) as b:
        assert b.metadata.model == "resnet-toy" and b.metadata.dataset == "toyset"
        assert b.metadata.extra["batch_file"] == 3
        w = b.load_layer("conv1").operand("forward", "weight")
        ref = tensors["conv1"]["weight"]
        np.testing.assert_array_equal(w != 0, ref != 0)
        np.testing.assert_allclose(w, ref, atol=np.abs(ref).max() / 32767)


# ---- the exported files ------------------------------------------------------------------
def test_exported_files_follow_dnnsim_layout(toy_trace, tmp_path):
    src, tensors = toy_trace
    out = export_dnnsim(src, tmp_path / "net")
    rows = _parse_like_dnnsim(out / PARAMS_FILE)
    expected_names = ["conv1", "features-conv2", "features-dw", "head-f_c_proj", "tall",
                      "fc-classifier"]
    assert [r[0] for r in rows] == expected_names
    assert all(len(r) == 6 for r in rows)
    params = {r[0]: [int(v) for v in r[1:]] for r in rows}
    assert params["conv1"] == [8, 3, 3, 1, 1]
    assert params["features-conv2"] == [16, 3, 3, 2, 1]
    assert params["features-dw"] == [16, 3, 3, 1, 1]
    assert params["head-f_c_proj"] == [8, 1, 1, 1, 0]
    assert params["tall"] == [8, 3, 1, 1, 1]
    assert params["fc-classifier"] == [10, 1, 1, 1, 0]
    kinds = {g.name: g.kind for g in _network()}
    originals = dict(zip(expected_names, kinds, strict=True))
    for name in expected_names:
        want = "InnerProduct" if kinds[originals[name]] == "linear" else "Convolution"
        assert dnnsim_layer_type(name) == want
        wgt = np.load(out / f"wgt-{name}.npy")
        act = np.load(out / f"act-{name}-0.npy")
        assert wgt.dtype == np.float32 and act.dtype == np.float32
        # no transposition: the arrays are the trace's operands as they are
        np.testing.assert_array_equal(wgt, tensors[originals[name]]["weight"])
        np.testing.assert_array_equal(act, tensors[originals[name]]["activation"])
    assert np.load(out / "wgt-features-dw.npy").shape == (16, 1, 3, 3)
    assert np.load(out / "act-features-dw-0.npy").shape == (BATCH, 16, 4, 4)
    assert np.load(out / "wgt-tall.npy").shape == (8, 8, 3, 1)
    assert np.load(out / "wgt-fc-classifier.npy").shape == (10, 8)
    assert np.load(out / "act-fc-classifier-0.npy").shape == (BATCH, 8)
    with open(out / NAMES_FILE, newline="") as fh:
        mapping = list(csv.reader(fh))
    assert mapping[0] == ["exported_name", "original_name"]
    assert dict(mapping[1:]) == {n: o for n, o in originals.items() if n != o}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net", "toy.trace"]


def test_no_names_file_when_nothing_is_renamed(tmp_path):
    src = tmp_path / "t.trace"
    _make_trace(src, [_conv("conv1", 3, 4, 6),
                      LayerGeometry(name="fc1", kind="linear", in_channels=5, out_channels=2)])
    out = export_dnnsim(src, tmp_path / "d")
    assert sorted(p.name for p in out.iterdir()) == [
        "act-conv1-0.npy", "act-fc1-0.npy", PARAMS_FILE, "wgt-conv1.npy", "wgt-fc1.npy"]


@pytest.mark.parametrize(("geometry", "words"), [
    (_conv("c", 2, 2, 6, stride=(2, 1)), ["'c'", "stride 2x1", "not square"]),
    (_conv("c", 2, 2, 6, pad=(1, 0)), ["'c'", "padding 1x0", "not square"]),
    (_conv("c", 2, 2, 6, dilation=2, pad=2), ["'c'", "dilation 2x2"]),
])
def test_export_rejects_what_dnnsim_cannot_express(tmp_path, geometry, words):
    src = tmp_path / "t.trace"
    _make_trace(src, [_conv("ok", 2, 2, 6), geometry])
    with pytest.raises(TraceError) as err:
        export_dnnsim(src, tmp_path / "out")
    for word in words:
        assert word in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.trace"]


def test_export_rejects_layer_without_forward_pass(tmp_path):
    rng = np.random.default_rng(3)
    g1, g2 = _conv("c1", 2, 2, 4), _conv("c2", 2, 2, 4)
    meta = TraceMetadata(model="m", dataset="d", method="dense", batch_indices=(0,))
    src = tmp_path / "t.trace"
    with TraceWriter(src, meta, encoding="float32") as w:
        w.add_layer(g1, {"forward": {"weight": sparse(rng, g1.weight_shape()),
                                     "activation": sparse(rng, g1.activation_shape(1))}})
        w.add_layer(g2, {"backward_input": {"weight": sparse(rng, g2.weight_shape()),
                                            "grad": sparse(rng, g2.grad_shape(1))}})
    with pytest.raises(TraceError, match="'c2'.*no forward pass"):
        export_dnnsim(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_export_rejects_name_clash(tmp_path):
    src = tmp_path / "t.trace"
    _make_trace(src, [_conv("a/b", 2, 2, 4), _conv("a-b", 2, 2, 4)])
    with pytest.raises(TraceError, match="'a/b' and 'a-b' both become 'a-b'"):
        export_dnnsim(src, tmp_path / "out")


def test_export_rejects_bad_trace_and_batch_file(tmp_path, toy_trace):
    src, _ = toy_trace
    with pytest.raises(TraceError, match="does not exist"):
        export_dnnsim(tmp_path / "missing.trace", tmp_path / "out")
    with pytest.raises(TraceError, match="batch_file"):
        export_dnnsim(src, tmp_path / "out", batch_file=-2)
    with pytest.raises(TraceError, match="does not exist"):
        export_dnnsim(src, tmp_path / "no" / "such" / "out")
    (tmp_path / "file").write_text("x")
    with pytest.raises(TraceError, match="not a directory"):
        export_dnnsim(src, tmp_path / "file")


# ---- atomicity and overwrite ---------------------------------------------------------------
def _snapshot(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def test_existing_directory_needs_overwrite(toy_trace, tmp_path):
    src, _ = toy_trace
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("old")
    with pytest.raises(TraceError, match=r"not empty.*overwrite=True.*--force"):
        export_dnnsim(src, out)
    assert _snapshot(out) == {"keep.txt": b"old"}
    export_dnnsim(src, out, overwrite=True)
    assert not (out / "keep.txt").exists() and (out / PARAMS_FILE).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "toy.trace"]


def test_empty_existing_directory_is_used(toy_trace, tmp_path):
    src, _ = toy_trace
    (tmp_path / "out").mkdir()
    export_dnnsim(src, tmp_path / "out")
    assert (tmp_path / "out" / PARAMS_FILE).is_file()


def test_failed_export_leaves_nothing_and_keeps_old_directory(toy_trace, tmp_path, monkeypatch):
    src, _ = toy_trace
    out = tmp_path / "out"
    real = exporter._write_npy
    calls = []

    def failing(path: Path, array: np.ndarray) -> None:
        calls.append(path)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        real(path, array)

    monkeypatch.setattr(exporter, "_write_npy", failing)
    with pytest.raises(WriteError, match=f"cannot write {out}: no space left"):
        export_dnnsim(src, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy.trace"]

    out.mkdir()
    (out / "keep.txt").write_text("old")
    calls.clear()
    with pytest.raises(WriteError):
        export_dnnsim(src, out, overwrite=True)
    assert _snapshot(out) == {"keep.txt": b"old"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "toy.trace"]


def test_export_refuses_to_replace_the_directory_holding_the_trace(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    _make_trace(run / "t.trace", [_conv("c", 2, 2, 4)])
    with pytest.raises(TraceError, match="holds the input trace"):
        export_dnnsim(run / "t.trace", run, overwrite=True)
    assert (run / "t.trace").is_file()
