"""What the dense-operand array models (systolic, SCNN, ideal) share: the bytes of dense
operands per block, even splits, and effectual products of a lowered problem."""

from __future__ import annotations

import numpy as np

from accelsim.numeric import ceil_div

__all__ = ["count_effectual", "dense_bytes", "split_even"]


def dense_bytes(filters_per_round: np.ndarray, filter_elems: int, n_filters: int,
                 windows_per_set: np.ndarray, window_source: int, n_windows: int,
                 bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(round bytes, window-set bytes, out bytes per block) of dense operands: a round of
    ``f`` filters holds ``f * filter_elems / n_filters`` elements, a set of ``w`` windows reads
    ``w * window_source / n_windows`` source elements, a block writes ``f * w`` outputs."""
    f = np.asarray(filters_per_round, np.int64)
    w = np.asarray(windows_per_set, np.int64)
    round_bytes = -(-f * filter_elems * bits // (8 * max(n_filters, 1)))
    set_bytes = -(-w * window_source * bits // (8 * max(n_windows, 1)))
    return round_bytes, set_bytes, -(-np.outer(f, w) * bits // 8)


def split_even(total: int, parts: int) -> np.ndarray:
    """``total`` items in ``parts`` consecutive chunks of ``ceil(total / parts)``."""
    size = ceil_div(total, parts) if parts else 0
    return np.minimum(size, total - size * np.arange(parts)).astype(np.int64)


def count_effectual(f: np.ndarray, x: np.ndarray) -> int:
    """Products with both operands non-zero of a lowered problem."""
    return int(f.sum(axis=0, dtype=np.int64).ravel() @ x.sum(axis=0, dtype=np.int64).ravel())
