"""DNNsim trace layout: export, import, round trip and every bad input."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest

from accelsim.errors import TraceError
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

BATCH = 2


def _sparse(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    a = rng.standard_normal(shape).astype(np.float32)
    a[rng.random(shape) < 0.4] = 0.0
    return a


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
            ops = {"weight": _sparse(rng, g.weight_shape()),
                   "activation": _sparse(rng, g.activation_shape(BATCH))}
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


# ---- importing DNNsim's own directories -----------------------------------------------------
def _write_dnnsim(d: Path, rows: list[str], arrays: dict[str, np.ndarray]) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / PARAMS_FILE).write_text("".join(f"{r}\n" for r in rows))
    for fname, a in arrays.items():
        np.save(d / fname, a)
    return d


def _native(d: Path, rows: list[str] | None = None, **override: np.ndarray) -> Path:
    """A small valid DNNsim directory: conv1 (3->4, 3x3, s1 p1) and fc1 (4-D act)."""
    rng = np.random.default_rng(1)
    arrays = {
        "wgt-conv1.npy": _sparse(rng, (4, 3, 3, 3)),
        "act-conv1-0.npy": _sparse(rng, (BATCH, 3, 5, 5)),
        "wgt-fc1.npy": _sparse(rng, (6, 4 * 2 * 2)),
        "act-fc1-0.npy": _sparse(rng, (BATCH, 4, 2, 2)),
    }
    arrays.update({k.replace("__", "-").replace("_npy", ".npy"): v for k, v in override.items()})
    if rows is None:
        rows = ["conv1,4,3,3,1,1", "fc1,6,1,1,1,0"]
    return _write_dnnsim(d, rows, arrays)


def test_import_seven_column_csv_and_flattened_fc(tmp_path):
    d = _native(tmp_path / "alexnet", rows=["conv1,data,4,3,3,1,1", "fc1,conv1,6,1,1,1,0"])
    out = import_dnnsim(d, tmp_path / "a.trace", encoding="float32")
    with open_trace(out) as t:
        conv, fc = t.geometries
        assert conv == LayerGeometry(name="conv1", kind="conv", in_channels=3, out_channels=4,
                                     kernel_h=3, kernel_w=3, padding_h=1, padding_w=1,
                                     input_h=5, input_w=5, output_h=5, output_w=5)
        assert fc == LayerGeometry(name="fc1", kind="linear", in_channels=16, out_channels=6)
        act = t.load_layer("fc1").operand("forward", "activation")
        np.testing.assert_array_equal(act, np.load(d / "act-fc1-0.npy").reshape(BATCH, 16))
        assert t.metadata.model == "alexnet"


def test_import_accepts_fc_weight_with_unit_kernel_axes(tmp_path):
    w = np.arange(6 * 16, dtype=np.float32).reshape(6, 16, 1, 1)
    d = _native(tmp_path / "n", wgt__fc1_npy=w)
    with open_trace(import_dnnsim(d, tmp_path / "n.trace", encoding="float32")) as t:
        got = t.load_layer("fc1").operand("forward", "weight")
        np.testing.assert_array_equal(got, w.reshape(6, 16))


def test_import_tolerates_crlf_and_blank_lines(tmp_path):
    d = _native(tmp_path / "n")
    (d / PARAMS_FILE).write_bytes(b"conv1,4,3,3,1,1\r\n\r\nfc1,6,1,1,1,0\r\n")
    with open_trace(import_dnnsim(d, tmp_path / "n.trace")) as t:
        assert t.layer_names == ("conv1", "fc1")


def test_import_strided_grouped_conv_geometry(tmp_path):
    rng = np.random.default_rng(2)
    d = _write_dnnsim(tmp_path / "g", ["conv_g,8,3,3,2,1"],
                      {"wgt-conv_g.npy": _sparse(rng, (8, 2, 3, 3)),
                       "act-conv_g-0.npy": _sparse(rng, (1, 4, 7, 6))})
    with open_trace(import_dnnsim(d, tmp_path / "g.trace")) as t:
        (g,) = t.geometries
        assert (g.groups, g.input_h, g.input_w, g.output_h, g.output_w) == (2, 7, 6, 4, 3)
        assert t.metadata.batch_indices == (0,)


# ---- bad input on import ------------------------------------------------------------------
def _nan_weight() -> np.ndarray:
    w = np.ones((4, 3, 3, 3), dtype=np.float32)
    w[0, 0, 0, 0] = np.nan
    return w


BAD_IMPORTS = {
    "wrong column count": (dict(rows=["conv1,4,3,3,1", "fc1,6,1,1,1,0"]),
                           ["trace_params.csv line 1", "5 columns", "6"]),
    "non-integer": (dict(rows=["conv1,4,3,x,1,1", "fc1,6,1,1,1,0"]),
                    ["line 1", "conv1", "Ky", "not an integer"]),
    "negative padding": (dict(rows=["conv1,4,3,3,1,-1", "fc1,6,1,1,1,0"]),
                         ["padding = -1", ">= 0"]),
    "duplicate row": (dict(rows=["conv1,4,3,3,1,1", "conv1,4,3,3,1,1"]), ["twice"]),
    "lstm layer": (dict(rows=["conv1,4,3,3,1,1", "lstm1,6,1,1,1,0"]), ["LSTM", "lstm1"]),
    "missing weight": (dict(rows=["conv1,4,3,3,1,1", "fc2,6,1,1,1,0"]),
                       ["wgt-fc2.npy", "missing", "fc2"]),
    "Nn mismatch": (dict(rows=["conv1,5,3,3,1,1", "fc1,6,1,1,1,0"]),
                    ["wgt-conv1.npy", "4 output channels", "Nn = 5"]),
    "kernel mismatch": (dict(rows=["conv1,4,5,5,1,1", "fc1,6,1,1,1,0"]),
                        ["wgt-conv1.npy", "3x3", "Kx, Ky = 5, 5"]),
    "fc kernel": (dict(rows=["conv1,4,3,3,1,1", "fc1,6,3,3,1,0"]), ["fc1", "1x1"]),
    "fc Nn mismatch": (dict(rows=["conv1,4,3,3,1,1", "fc1,7,1,1,1,0"]), ["wgt-fc1.npy", "Nn = 7"]),
    "conv weight ndim": (dict(wgt__conv1_npy=np.ones((4, 27), np.float32)),
                         ["wgt-conv1.npy", "2 dimensions", "expected 4"]),
    "conv act ndim": (dict(act__conv1__0_npy=np.ones((BATCH, 75), np.float32)),
                      ["act-conv1-0.npy", "2 dimensions", "expected 4"]),
    "fc weight ndim": (dict(wgt__fc1_npy=np.ones((6, 4, 2, 2), np.float32)),
                       ["wgt-fc1.npy", "4 dimensions", "expected 2"]),
    "fc act ndim": (dict(act__fc1__0_npy=np.ones((BATCH, 4, 4), np.float32)),
                    ["act-fc1-0.npy", "3 dimensions"]),
    "fc features": (dict(act__fc1__0_npy=np.ones((BATCH, 4, 3, 3), np.float32)),
                    ["act-fc1-0.npy", "36 features", "expects 16"]),
    "groups": (dict(act__conv1__0_npy=np.ones((BATCH, 4, 5, 5), np.float32)),
               ["act-conv1-0.npy", "4 channels", "multiple"]),
    "kernel too big": (dict(act__conv1__0_npy=np.ones((BATCH, 3, 1, 1), np.float32),
                            rows=["conv1,4,3,3,1,0", "fc1,6,1,1,1,0"]),
                       ["act-conv1-0.npy", "does not fit"]),
    "batch mismatch": (dict(act__fc1__0_npy=np.ones((BATCH + 1, 16), np.float32)),
                       ["act-fc1-0.npy", "batch of 3", "first layer has 2"]),
    "nan": (dict(wgt__conv1_npy=_nan_weight()), ["wgt-conv1.npy", "conv1", "NaN/inf"]),
    "inf": (dict(act__fc1__0_npy=np.full((BATCH, 16), np.inf, np.float32)),
            ["act-fc1-0.npy", "fc1", "NaN/inf"]),
    "object dtype": (dict(wgt__conv1_npy=np.array(["a"] * 4)), ["wgt-conv1.npy", "not numeric"]),
    "empty tensor": (dict(act__conv1__0_npy=np.ones((0, 3, 5, 5), np.float32)),
                     ["act-conv1-0.npy", "empty"]),
}


@pytest.mark.parametrize("case", sorted(BAD_IMPORTS))
def test_import_rejects_bad_input(tmp_path, case):
    spec, words = BAD_IMPORTS[case]
    spec = dict(spec)
    d = _native(tmp_path / "net", rows=spec.pop("rows", None), **spec)
    out = tmp_path / "x.trace"
    with pytest.raises(TraceError) as err:
        import_dnnsim(d, out)
    msg = str(err.value)
    assert "\n" not in msg
    for word in words:
        assert word in msg, (word, msg)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net"]


def test_import_rejects_missing_directory_and_params(tmp_path):
    with pytest.raises(TraceError, match="does not exist"):
        import_dnnsim(tmp_path / "nope", tmp_path / "x.trace")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TraceError, match="has no trace_params.csv"):
        import_dnnsim(tmp_path / "empty", tmp_path / "x.trace")
    d = _native(tmp_path / "n")
    (d / PARAMS_FILE).write_text("\n\n")
    with pytest.raises(TraceError, match="no layer rows"):
        import_dnnsim(d, tmp_path / "x.trace")


def test_import_missing_activation_names_the_batch_file(tmp_path):
    d = _native(tmp_path / "n")
    with pytest.raises(TraceError, match=r"act-conv1-4\.npy.*missing.*batch_file"):
        import_dnnsim(d, tmp_path / "x.trace", batch_file=4)


def test_import_rejects_corrupt_npy(tmp_path):
    d = _native(tmp_path / "n")
    (d / "wgt-fc1.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(TraceError, match=r"wgt-fc1\.npy.*fc1.*not a readable \.npy"):
        import_dnnsim(d, tmp_path / "x.trace")
    raw = (d / "act-conv1-0.npy").read_bytes()
    (d / "act-conv1-0.npy").write_bytes(raw[: len(raw) // 2])  # truncated
    with pytest.raises(TraceError, match=r"act-conv1-0\.npy.*not a readable"):
        import_dnnsim(d, tmp_path / "x.trace")
    assert not (tmp_path / "x.trace").exists()


def test_import_rejects_fifo_and_absurd_npy_header(tmp_path):
    d = _native(tmp_path / "n")
    (d / "wgt-fc1.npy").unlink()
    os.mkfifo(d / "wgt-fc1.npy")
    with pytest.raises(TraceError, match=r"wgt-fc1\.npy is a FIFO \(named pipe\), not a \.npy"):
        import_dnnsim(d, tmp_path / "x.trace")
    (d / "wgt-fc1.npy").unlink()
    header = np.lib.format.header_data_from_array_1_0(np.zeros(1, np.float32))
    header["shape"] = (2 ** 60,)
    with open(d / "wgt-fc1.npy", "wb") as fh:  # claims 2**60 values, holds 4 bytes
        np.lib.format.write_array_header_1_0(fh, header)
        fh.write(b"\0" * 4)
    with pytest.raises(TraceError, match=r"wgt-fc1\.npy.*not a readable \.npy"):
        import_dnnsim(d, tmp_path / "x.trace")


def test_import_rejects_bad_arguments(tmp_path):
    d = _native(tmp_path / "n")
    with pytest.raises(TraceError, match="encoding"):
        import_dnnsim(d, tmp_path / "x.trace", encoding="int4")
    with pytest.raises(TraceError, match="batch_file"):
        import_dnnsim(d, tmp_path / "x.trace", batch_file=-1)


def test_import_bad_names_file(tmp_path):
    d = _native(tmp_path / "n")
    (d / NAMES_FILE).write_text("exported,original\n")
    with pytest.raises(TraceError, match="accelsim-names.csv.*first row"):
        import_dnnsim(d, tmp_path / "x.trace")
    (d / NAMES_FILE).write_text("exported_name,original_name\nconv1,a\nfc1,a\n")
    with pytest.raises(TraceError, match="several layers"):
        import_dnnsim(d, tmp_path / "x.trace")
    (d / NAMES_FILE).write_text("exported_name,original_name\nconv1,a/b\ngone,c\n")
    with open_trace(import_dnnsim(d, tmp_path / "x.trace")) as t:
        assert t.layer_names == ("a/b", "fc1")


# ---- bad input on export ------------------------------------------------------------------
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
        w.add_layer(g1, {"forward": {"weight": _sparse(rng, g1.weight_shape()),
                                     "activation": _sparse(rng, g1.activation_shape(1))}})
        w.add_layer(g2, {"backward_input": {"weight": _sparse(rng, g2.weight_shape()),
                                            "grad": _sparse(rng, g2.grad_shape(1))}})
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
    with pytest.raises(TraceError, match="cannot write.*No space left"):
        export_dnnsim(src, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy.trace"]

    out.mkdir()
    (out / "keep.txt").write_text("old")
    calls.clear()
    with pytest.raises(TraceError):
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
