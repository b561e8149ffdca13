"""DNNsim trace layout: importing DNNsim's own directories, and every bad input."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from accelsim.errors import TraceError
from accelsim.spec.geometry import LayerGeometry
from accelsim.trace.dnnsim import (
    NAMES_FILE,
    PARAMS_FILE,
    import_dnnsim,
)
from accelsim.trace.reader import open_trace
from tests.trace.dnnsim_helpers import BATCH, sparse


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
        "wgt-conv1.npy": sparse(rng, (4, 3, 3, 3)),
        "act-conv1-0.npy": sparse(rng, (BATCH, 3, 5, 5)),
        "wgt-fc1.npy": sparse(rng, (6, 4 * 2 * 2)),
        "act-fc1-0.npy": sparse(rng, (BATCH, 4, 2, 2)),
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
                      {"wgt-conv_g.npy": sparse(rng, (8, 2, 3, 3)),
                       "act-conv_g-0.npy": sparse(rng, (1, 4, 7, 6))})
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
