"""The layout primitives of the lowering (numpy only): :class:`LoweredProblem`, a pass's
unit of work, and the im2col helpers that :mod:`accelsim.lowering.lower` and
:mod:`accelsim.lowering.depthwise` build problems with (orders: see
:mod:`accelsim.lowering.lower`, "Traversal")."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accelsim.errors import LoweringError
from accelsim.numeric import ceil_div
from accelsim.spec.geometry import LayerGeometry

__all__ = ["LoweredProblem", "axis_params", "chunk_lanes", "forward_indices", "gather", "pixels",
           "taps_last"]


@dataclass(frozen=True, eq=False)
class LoweredProblem:
    """One filter x window product: ``result[f, w] = sum(filters[f] * windows[w])``.
    ``held``: bool ``[n_filters, lines, lanes]``, the filter slots that hold a weight of the
    layer (zero or not); None: every slot (DNNsim's depthwise mapping leaves the others
    empty)."""

    filters: np.ndarray  # [n_filters, lines, lanes]
    windows: np.ndarray  # [n_windows, lines, lanes]
    tag: tuple           # (pass_name, n0, n1, group, ...): where the result goes
    held: np.ndarray | None = None

    def __post_init__(self) -> None:
        f, x = self.filters, self.windows
        if f.ndim != 3 or x.ndim != 3 or f.shape[1:] != x.shape[1:]:
            raise LoweringError(f"problem {self.tag}: filters {f.shape} and windows {x.shape} "
                                "must both be [count, lines, lanes] with equal lines and lanes")
        if self.held is not None and self.held.shape != f.shape:
            raise LoweringError(f"problem {self.tag}: held {self.held.shape} must have the "
                                f"filters' shape {f.shape}")

    @property
    def filters_key(self) -> tuple:
        """The identity of the filter array, from the tag: the problems of a pass with equal
        keys share one array (forward: a group's or depthwise chunk's; backward-input: a
        group's and phase's; backward-weight: a sample's and group's).  Unlike ``id(filters)``
        it stays unique when the problems of a pass are made and dropped one at a time."""
        t = self.tag
        if t[0] == "backward_weight":
            return (t[0], t[1], t[3])
        return (t[0],) + tuple(t[3:])

    @property
    def n_filters(self) -> int:
        return self.filters.shape[0]

    @property
    def n_windows(self) -> int:
        return self.windows.shape[0]

    @property
    def lines(self) -> int:
        return self.filters.shape[1]

    @property
    def lanes(self) -> int:
        return self.filters.shape[2]


def chunk_lanes(a: np.ndarray, lanes: int) -> np.ndarray:
    """``[P, T, C]`` -> a new read-only ``[P, T*ceil(C/lanes), lanes]`` array: each of the
    T reduction groups of C elements cut into chunks of ``lanes``, the last zero-padded."""
    p, t, c = a.shape
    chunks = ceil_div(c, lanes)
    out = np.zeros((p, t, chunks * lanes), dtype=a.dtype)
    out[:, :, :c] = a
    out = out.reshape(p, t * chunks, lanes)
    out.flags.writeable = False
    return out


def gather(a: np.ndarray, iy: np.ndarray, ix: np.ndarray, traversal: str) -> np.ndarray:
    """im2col of ``a[S, C, H, W]`` at rows ``iy[ny, Ty]`` and columns ``ix[nx, Tx]`` (indices
    outside the image read zero) -> ``[S*ny*nx, Ty*Tx, C]``: row-major -- windows x fastest,
    then y, then sample; taps y outer, x inner; dnnsim -- windows y fastest, then x, then
    sample; taps x outer, y inner."""
    s, c, h, w = a.shape
    lo_y, hi_y = max(0, -int(iy.min())), max(0, int(iy.max()) - (h - 1))
    lo_x, hi_x = max(0, -int(ix.min())), max(0, int(ix.max()) - (w - 1))
    if lo_y or hi_y or lo_x or hi_x:
        a = np.pad(a, ((0, 0), (0, 0), (lo_y, hi_y), (lo_x, hi_x)))
    g = a[:, :, (iy + lo_y)[:, :, None, None], (ix + lo_x)[None, None, :, :]]
    ny, ty = iy.shape
    nx, tx = ix.shape
    if traversal == "dnnsim":  # [S, C, ny, Ty, nx, Tx] -> [S, nx, ny, Tx, Ty, C]
        return g.transpose(0, 4, 2, 5, 3, 1).reshape(s * ny * nx, ty * tx, c)
    # [S, C, ny, Ty, nx, Tx] -> [S, ny, nx, Ty, Tx, C]
    return g.transpose(0, 2, 4, 3, 5, 1).reshape(s * ny * nx, ty * tx, c)


def taps_last(w: np.ndarray, traversal: str) -> np.ndarray:
    """``[A, B, Ty, Tx]`` -> ``[B, taps, A]`` in the traversal's tap order (row-major: y
    outer; dnnsim: x outer)."""
    a, b, ty, tx = w.shape
    order = (1, 3, 2, 0) if traversal == "dnnsim" else (1, 2, 3, 0)
    return w.transpose(order).reshape(b, ty * tx, a)


def pixels(a: np.ndarray, traversal: str) -> np.ndarray:
    """``[C, Ho, Wo]`` -> ``[C, 1, Ho*Wo]``, the pixels in the traversal's order (row-major: x
    fastest; dnnsim: y fastest)."""
    c, ho, wo = a.shape
    if traversal == "dnnsim":
        a = a.transpose(0, 2, 1)
    return a.reshape(c, 1, ho * wo)


def axis_params(geometry: LayerGeometry, axis: str) -> tuple[int, int, int, int, int, int]:
    """(input size, output size, kernel, stride, padding, dilation) along ``axis``."""
    g = geometry
    return (getattr(g, f"input_{axis}"), getattr(g, f"output_{axis}"),
            getattr(g, f"kernel_{axis}"), getattr(g, f"stride_{axis}"),
            getattr(g, f"padding_{axis}"), getattr(g, f"dilation_{axis}"))


def forward_indices(geometry: LayerGeometry) -> tuple[np.ndarray, np.ndarray]:
    """The input rows ``iy[Ho, kh]`` and columns ``ix[Wo, kw]`` the forward windows read
    (``out * stride + tap * dilation - padding``; outside the image: padding)."""
    _, ho, kh, sh, ph, dh = axis_params(geometry, "h")
    _, wo, kw, sw, pw, dw = axis_params(geometry, "w")
    return (np.arange(ho)[:, None] * sh + np.arange(kh)[None, :] * dh - ph,
            np.arange(wo)[:, None] * sw + np.arange(kw)[None, :] * dw - pw)
