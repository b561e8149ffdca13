"""The CLI under faults, one table each: every place that writes a file refuses a
read-only file system, a full disk, denied permission, a file where a directory is needed and
a directory where a file is needed with one line naming the path and exit status 2, leaving
the previous file intact and no temporary file; simulate-layer refuses arrays that are not
real numbers and oversized layers; hardware refuses absurd sizes."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest

from accelsim.gpu import bench

FAULTS = {"disk-full": errno.ENOSPC, "read-only": errno.EROFS, "permission-denied": errno.EACCES}
WORDS = {"disk-full": "no space left on device", "read-only": "read-only file system",
         "permission-denied": "permission denied", "dir-for-file": "is a directory",
         "file-for-dir": "is a file, not a directory"}


def _fail(code: int):
    def fail(*args, **kwargs):     # as the system call fails: naming its paths
        names = [os.fspath(a) for a in args[:2] if isinstance(a, str | os.PathLike)]
        raise OSError(code, os.strerror(code), *names[:1], None, *names[1:2])
    return fail


@pytest.fixture(scope="module")
def trace(tmp_path_factory) -> Path:
    from accelsim import api
    out = tmp_path_factory.mktemp("t") / "t.trace"
    api.synthetic_trace(out, model="digits-cnn", dataset="digits", method="swat-u",
                        sparsity=0.9)
    return out


def _writer_argv(writer: str, trace: Path, out: Path) -> list[str]:
    return {
        "synthetic": ["synthetic", "--model", "digits-cnn", "--dataset", "digits", "--method",
                      "swat-u", "--sparsity", "0.9", "--out", str(out)],
        "plot": ["plot", "sparsity", str(trace), "--out", str(out)],
        "report": ["report", str(trace), "--out", str(out)],
    }[writer]


@pytest.mark.parametrize("fault", [*FAULTS, "dir-for-file", "file-for-dir"])
@pytest.mark.parametrize("writer, name", [("synthetic", "x.trace"), ("plot", "p.svg"),
                                          ("report", "r.html")])
def test_every_file_writer_fails_in_one_line(cli, tmp_path, monkeypatch, trace, writer, name,
                                             fault):
    out = tmp_path / name
    out.write_bytes(b"previous")
    if fault == "dir-for-file":
        out.unlink()
        out.mkdir()
    elif fault == "file-for-dir":
        out = out / "inside" / name                 # its parent is a file
    else:
        monkeypatch.setattr(os, "replace", _fail(FAULTS[fault]))
    code, _, err = cli(*_writer_argv(writer, trace, out))
    assert code == 2 and len(err.splitlines()) == 1, err
    assert WORDS[fault] in err and name in err and "Traceback" not in err and ".tmp" not in err
    if fault in FAULTS:
        assert out.read_bytes() == b"previous"            # left as it was
    assert not [p for p in tmp_path.rglob("*") if ".tmp" in p.name]


@pytest.mark.parametrize("fault", [*FAULTS, "file-for-dir"])
def test_export_dnnsim_fails_in_one_line(cli, tmp_path, monkeypatch, trace, fault):
    out = tmp_path / "dnn"
    if fault == "file-for-dir":
        out.write_text("x")
    else:
        out.mkdir()
        monkeypatch.setattr(os, "replace", _fail(FAULTS[fault]))
        monkeypatch.setattr(os, "rename", _fail(FAULTS[fault]))
    code, _, err = cli("export-dnnsim", trace, "--out", out)
    assert code == 2 and len(err.splitlines()) == 1 and str(out) in err, err
    assert not [p for p in tmp_path.rglob("*") if ".tmp" in p.name]


@pytest.mark.parametrize("fault", FAULTS)
def test_gpu_bench_results_are_written_atomically(tmp_path, monkeypatch, fault):
    from accelsim.fileio import WriteError
    out = tmp_path / "gpu.json"
    out.write_text("previous")
    monkeypatch.setattr(os, "replace", _fail(FAULTS[fault]))
    with pytest.raises(WriteError, match=f"cannot write {out}: {WORDS[fault]}"):
        bench.write_json({"a": 1}, out)
    assert out.read_text() == "previous" and len(list(tmp_path.iterdir())) == 1


W = np.ones((4, 3, 3, 3), np.float32)
A = np.ones((1, 3, 8, 8), np.float32)


@pytest.mark.parametrize("weights, activations, words", [
    (W.astype(str), A, "weights is a string array"),
    (W, A.astype(np.complex64), "activations is a complex array"),
    (W > 0, A, "weights is a boolean array"),
    (W.astype(object), A, "weights is an object array"),
    (W * np.nan, A, "weights hold NaN/inf"),
    (W, A * np.inf, "activations hold NaN/inf"),
    (np.ones((4, 3, 3, 0), np.float32), A, "weights is empty"),
], ids=["string", "complex", "bool", "object", "nan", "inf", "empty"])
def test_simulate_layer_refuses_arrays_that_are_not_real_numbers(cli, tmp_path, weights,
                                                                  activations, words):
    np.save(tmp_path / "w.npy", weights, allow_pickle=True)
    np.save(tmp_path / "a.npy", activations)
    from accelsim.errors import ConfigError
    from accelsim.simulate import simulate_layer
    with pytest.raises(ConfigError, match=words):
        simulate_layer(weights, activations)
    if weights.dtype != object:                      # .npy refuses pickled objects anyway
        code, _, err = cli("simulate-layer", "--weights", tmp_path / "w.npy", "--activations",
                           tmp_path / "a.npy")
        assert code == 2 and words in err and len(err.splitlines()) == 1


def test_simulate_layer_refuses_an_oversized_layer_before_allocating():
    import time

    from accelsim.errors import ConfigError
    from accelsim.simulate import MAX_LOWERED_BYTES, simulate_layer
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match=f"over the {MAX_LOWERED_BYTES >> 30} GiB"):
        simulate_layer(W, A, padding=100_000)
    assert time.perf_counter() - t0 < 1.0


@pytest.mark.parametrize("hardware, words", [
    ("[array]\ntiles = 1000000000000\n", "tiles x rows x columns = 16000000000000"),
    ("[array]\ntiles = 1e12\n", "must be an integer"),
    ("[array]\nlanes = 100000\n", "lanes = 100000 is absurdly large"),
    ("[array]\nrows = 4096\ncolumns = 4096\n", "at most 1048576 processing elements"),
    ("[memory]\nweight_buffer_bytes = 10000000000000000\n", "1 TiB"),
    ('[array]\nkind = "systolic"\n[systolic]\nheight = 100000\nwidth = 100000\n',
     "[systolic] height x width"),
    ('[array]\nkind = "scnn"\n[scnn]\npe_rows = 10000\npe_columns = 10000\n',
     "[scnn] pe_rows x pe_columns"),
], ids=["tiles", "tiles-float", "lanes", "pes", "buffer", "systolic", "scnn"])
def test_absurd_hardware_sizes_are_refused_quickly(cli, tmp_path, trace, hardware, words):
    import time
    (tmp_path / "hw.toml").write_text(hardware)
    t0 = time.perf_counter()
    code, _, err = cli("simulate", trace, "--hardware", tmp_path / "hw.toml")
    assert code == 2 and words in err and len(err.splitlines()) == 1, err
    assert time.perf_counter() - t0 < 5.0
