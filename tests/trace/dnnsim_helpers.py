"""Shared by the DNNsim tests: the batch size and seeded sparse tensors."""

from __future__ import annotations

import numpy as np

BATCH = 2


def sparse(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """float32 normal values with about 40% zeros."""
    a = rng.standard_normal(shape).astype(np.float32)
    a[rng.random(shape) < 0.4] = 0.0
    return a
