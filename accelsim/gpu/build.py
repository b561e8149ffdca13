"""Compile ``csrc/*.cu`` with nvcc into one shared library and load it with ctypes.

``nvcc -O3 -shared -Xcompiler -fPIC -arch=sm_XY csrc/*.cu -o libaccelsim_sparse-KEY.so``: the
key is a SHA-256 over the sources (``.cu`` and ``.cuh``), the flags, the architecture and
``nvcc --version``, so an edited kernel or another GPU rebuilds and an unchanged one loads from
the cache (``$ACCELSIM_CACHE_DIR``, else ``$XDG_CACHE_HOME/accelsim/gpu``, else
``~/.cache/accelsim/gpu``).  The library is written to a temporary file in the cache directory
and renamed into place (atomic: concurrent builders never load a half-written file).  The CUDA
runtime is linked statically (nvcc's default), so loading needs only the driver.

Environment: ``ACCELSIM_NVCC`` (the compiler), ``ACCELSIM_CUDA_ARCH`` (e.g. ``sm_90``; default
the current GPU's compute capability through torch, else ``sm_80``).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from accelsim.gpu import GpuError

CSRC = Path(__file__).resolve().parent / "csrc"
FLAGS = ("-O3", "-shared", "-Xcompiler", "-fPIC", "-std=c++17", "-lineinfo")
DEFAULT_ARCH = "sm_80"

_c_int, _c_ll, _ptr = ctypes.c_int, ctypes.c_longlong, ctypes.c_void_p
#: launcher name -> (restype, argtypes); pointers and streams are passed as integers.
SIGNATURES: dict[str, tuple[object, list[object]]] = {
    "accelsim_scan_workspace_ints": (_c_ll, [_c_ll]),
    "accelsim_error_string": (ctypes.c_char_p, [_c_int]),
    "accelsim_exclusive_scan": (_c_int, [_ptr, _c_ll, _ptr, _ptr]),
    "accelsim_compress_tiles": (_c_int, [_ptr, _c_ll, _c_int, _c_ll, _c_ll, _c_ll, _c_ll,
                                         _ptr, _ptr, _ptr, _ptr, _ptr]),
    "accelsim_compress_csr": (_c_int, [_ptr, _c_int, _c_int, _c_int, _c_ll, _c_ll, _c_ll,
                                       _ptr, _ptr, _ptr, _ptr, _ptr]),
    "accelsim_conv_forward": (_c_int, [_c_int] * 15 + [_ptr] * 8),
    "accelsim_conv_backward_input": (_c_int, [_c_int] * 15 + [_ptr] * 6),
    "accelsim_conv_backward_weight": (_c_int, [_c_int] * 15 + [_ptr] * 5 + [_c_int, _ptr]),
}

_loaded: dict[Path, ctypes.CDLL] = {}


def sources() -> list[Path]:
    """The ``.cu`` files compiled into the library, sorted."""
    return sorted(CSRC.glob("*.cu"))


def find_nvcc() -> str | None:
    """``$ACCELSIM_NVCC``, ``nvcc`` on PATH, ``$CUDA_HOME/bin/nvcc`` or
    ``/usr/local/cuda/bin/nvcc``; None when there is none."""
    candidates = [os.environ.get("ACCELSIM_NVCC"), shutil.which("nvcc")]
    for home in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        if home:
            candidates.append(str(Path(home) / "bin" / "nvcc"))
    for c in candidates:
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return c
    return None


def default_arch() -> str:
    """``$ACCELSIM_CUDA_ARCH``, else ``sm_<major><minor>`` of the current GPU when torch is
    already imported with CUDA, else ``sm_80``."""
    env = os.environ.get("ACCELSIM_CUDA_ARCH")
    if env:
        return env
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability()
        return f"sm_{major}{minor}"
    return DEFAULT_ARCH


def cache_dir() -> Path:
    """Where built libraries are kept (see the module docstring)."""
    env = os.environ.get("ACCELSIM_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "accelsim" / "gpu"


def nvcc_command(nvcc: str, arch: str, output: Path, files: list[Path] | None = None) -> list[str]:
    """The nvcc command line that builds ``output`` from ``files`` (default: all sources)."""
    return [nvcc, *FLAGS, f"-arch={arch}", *(str(f) for f in (files or sources())),
            "-o", str(output)]


def _nvcc_version(nvcc: str) -> str:
    try:
        return subprocess.run([nvcc, "--version"], capture_output=True, text=True,
                              timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise GpuError(f"{nvcc} --version failed: {exc}") from None


def library_key(nvcc: str, arch: str) -> str:
    """SHA-256 over sources, flags, architecture and the compiler's version."""
    h = hashlib.sha256()
    for f in sorted(CSRC.glob("*.cu*")):
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    h.update(" ".join((*FLAGS, arch)).encode())
    h.update(_nvcc_version(nvcc).encode())
    return h.hexdigest()


def build_library(arch: str | None = None, cache: str | os.PathLike[str] | None = None,
                  nvcc: str | None = None, force: bool = False) -> Path:
    """Compile (or find in the cache) the shared library; returns its path."""
    nvcc = nvcc or find_nvcc()
    if nvcc is None:
        raise GpuError("nvcc not found: install the CUDA toolkit, put nvcc on PATH or set "
                       "ACCELSIM_NVCC")
    arch = arch or default_arch()
    directory = Path(cache) if cache is not None else cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"libaccelsim_sparse-{arch}-{library_key(nvcc, arch)[:16]}.so"
    if target.exists() and not force:
        return target
    fd, tmp_name = tempfile.mkstemp(prefix=".build-", suffix=".so", dir=directory)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        proc = subprocess.run(nvcc_command(nvcc, arch, tmp), capture_output=True, text=True,
                              timeout=600)
        if proc.returncode != 0:
            lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if "error" in ln]
            first = lines[0] if lines else (proc.stderr.strip().splitlines() or ["?"])[-1]
            raise GpuError(f"nvcc failed building the sparse kernels for {arch}: {first}")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def load_library(path: str | os.PathLike[str] | None = None, **build_args) -> ctypes.CDLL:
    """Load (building first when ``path`` is None) and declare every launcher's signature."""
    lib_path = Path(path) if path is not None else build_library(**build_args)
    lib_path = lib_path.resolve()
    if lib_path not in _loaded:
        try:
            lib = ctypes.CDLL(str(lib_path))
        except OSError as exc:
            raise GpuError(f"cannot load {lib_path}: {exc}") from None
        for name, (restype, argtypes) in SIGNATURES.items():
            fn = getattr(lib, name)
            fn.restype = restype
            fn.argtypes = argtypes
        _loaded[lib_path] = lib
    return _loaded[lib_path]
