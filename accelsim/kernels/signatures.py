"""numba types of kernel arguments, for the signatures the kernel modules declare
(:class:`accelsim.kernels.ahead.KernelCall`)."""

from __future__ import annotations

from functools import cache
from typing import Any

import numba
import numpy as np
from numba.core import types

__all__ = ["BOOL", "INT", "array_type"]

INT = types.int64
"""The type of a python int argument."""
BOOL = types.boolean
"""The type of a python bool argument."""


@cache
def array_type(dtype: Any, ndim: int) -> types.Array:
    """The numba type of a C-contiguous, writable ``ndim``-dimensional array of ``dtype``."""
    return types.Array(numba.from_dtype(np.dtype(dtype)), ndim, "C")
