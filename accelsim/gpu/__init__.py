"""Sparse CUDA kernels for the three training passes, their numpy references and a GPU timing
harness.

* ``csrc/*.cu``: CUDA C++ kernels behind plain ``extern "C"`` launchers on raw device pointers
  (no torch headers), compiled by :mod:`accelsim.gpu.build` with nvcc into one shared library
  (cached by source hash) and loaded with ctypes.
* :mod:`accelsim.gpu.reference`: numpy versions of the same compressed formats and algorithms.
* :mod:`accelsim.gpu.ops`: wrappers taking torch CUDA tensors.
* :mod:`accelsim.gpu.bench`: timing against cuDNN/cuBLAS/cuSPARSE/2:4 baselines.

Importing this package imports neither torch nor the library; torch is loaded by the functions
of ``ops`` and ``bench`` when they are called.
"""

from __future__ import annotations

from accelsim.errors import AccelsimError


class GpuError(AccelsimError, RuntimeError):
    """No GPU / CUDA build of torch / nvcc, a failed compilation or a failed kernel launch."""


__all__ = ["GpuError"]
