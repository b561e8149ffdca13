"""CI compiles every CUDA source with nvcc (no GPU needed) and checks the launchers' symbols."""

from __future__ import annotations

import ctypes
import subprocess

import pytest

from accelsim.gpu import build

NVCC = build.find_nvcc()
pytestmark = pytest.mark.skipif(NVCC is None, reason="nvcc not found (CUDA toolkit not installed)")


def test_every_source_compiles_into_one_library_with_all_launchers(tmp_path):
    assert {"compress.cu", "conv.cu"} <= {p.name for p in build.sources()}
    lib_path = build.build_library(arch="sm_80", cache=tmp_path)
    assert lib_path.exists() and lib_path.parent == tmp_path
    assert not list(tmp_path.glob(".build-*"))  # the temporary file was renamed away
    # cached: the second call finds the same file without compiling
    mtime = lib_path.stat().st_mtime_ns
    assert build.build_library(arch="sm_80", cache=tmp_path) == lib_path
    assert lib_path.stat().st_mtime_ns == mtime
    # the CUDA runtime is static: loading needs no GPU, and every launcher is exported
    lib = build.load_library(lib_path)
    for name in build.SIGNATURES:
        assert hasattr(lib, name), name
    assert lib.accelsim_scan_workspace_ints(1025) == 2
    assert lib.accelsim_error_string(0) == b"no error"
    symbols = subprocess.run(["nm", "-D", str(lib_path)], capture_output=True, text=True).stdout
    assert all(f" T {name}" in symbols for name in build.SIGNATURES)
    assert isinstance(lib, ctypes.CDLL)


def test_compile_error_is_one_line(tmp_path, monkeypatch):
    bad = tmp_path / "csrc"
    bad.mkdir()
    (bad / "broken.cu").write_text('extern "C" int f() { return undefined_name; }\n')
    monkeypatch.setattr(build, "CSRC", bad)
    with pytest.raises(build.GpuError) as info:
        build.build_library(arch="sm_80", cache=tmp_path / "cache")
    assert "\n" not in str(info.value) and "nvcc failed" in str(info.value)
    assert not list((tmp_path / "cache").glob("*.so"))


def test_missing_nvcc_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(build, "find_nvcc", lambda: None)
    with pytest.raises(build.GpuError, match="nvcc not found"):
        build.build_library(cache=tmp_path)
