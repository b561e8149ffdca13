"""DNNsim's first-layer fold (``[frontend] fold_first_layer``): a strided convolution over 3
input channels becomes a stride-1 convolution over ``3 * s * s`` channels (space to depth),
so that more of a PE's lanes hold work.

DNNsim (``core/src/Simulator.cpp``, ``base/src/Array.cpp::reshape_first_layer_act`` and
``reshape_first_layer_wgt``) does it in the forward pass of every layer whose activation has
3 channels and whose stride is above 1, after zero padding.  Pixel ``(i, j)`` (numpy axes 2
and 3) of channel ``k`` moves to pixel ``(i // s, j // s)`` of channel
``(j % s) * s * C + (i % s) * C + k``, for the activation (padded, ``ceil(H_p / s) x
ceil(W_p / s)``) and the weight (``ceil(K / s)`` per axis) alike, the gaps left zero.  The
folded layer has stride 1, no padding and ``ceil(H_p / s) - ceil(K_h / s) + 1`` output rows
(and columns likewise), which may exceed the true output size by one (DNNsim then computes
a window that reads only padding).  DNNsim sizes the folded activation's second axis with
the first axis' size; we size each axis with its own.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from accelsim.spec.geometry import LayerGeometry

__all__ = ["fold_first_layer", "folds"]

CHANNELS = 3


def folds(g: LayerGeometry, pass_name: str) -> bool:
    """Whether DNNsim folds this pass of this layer: forward, a convolution over 3 input
    channels, one square stride above 1, no dilation and no groups."""
    return (pass_name == "forward" and g.kind == "conv" and g.in_channels == CHANNELS
            and g.stride_h == g.stride_w > 1 and g.groups == 1
            and (g.dilation_h, g.dilation_w) == (1, 1))


def _space_to_depth(a: np.ndarray, s: int) -> np.ndarray:
    """``[N, C, H, W]`` -> ``[N, C * s * s, ceil(H / s), ceil(W / s)]`` (module docstring)."""
    n, c, h, w = a.shape
    hs, ws = -(-h // s), -(-w // s)
    padded = np.zeros((n, c, hs * s, ws * s), dtype=a.dtype)
    padded[:, :, :h, :w] = a
    # [n, c, hs, di, ws, dj] -> [n, dj, di, c, hs, ws]: channel (dj * s + di) * c + k
    six = padded.reshape(n, c, hs, s, ws, s).transpose(0, 5, 3, 1, 2, 4)
    return np.ascontiguousarray(six.reshape(n, s * s * c, hs, ws))


def fold_first_layer(g: LayerGeometry, weight: np.ndarray, activation: np.ndarray
                     ) -> tuple[LayerGeometry, np.ndarray, np.ndarray]:
    """The folded geometry, weight ``[O, 3 s s, ceil(Kh/s), ceil(Kw/s)]`` and activation
    ``[N, 3 s s, ceil(Hp/s), ceil(Wp/s)]`` (dtypes kept) of a layer for which
    :func:`folds` holds."""
    s = g.stride_h
    a = np.asarray(activation)
    a = np.pad(a, ((0, 0), (0, 0), (g.padding_h, g.padding_h), (g.padding_w, g.padding_w)))
    fa = _space_to_depth(a, s)
    fw = _space_to_depth(np.asarray(weight), s)
    kh, kw = fw.shape[2:]
    folded = dataclasses.replace(
        g, in_channels=fw.shape[1], kernel_h=kh, kernel_w=kw, stride_h=1, stride_w=1,
        padding_h=0, padding_w=0, input_h=fa.shape[2], input_w=fa.shape[3],
        output_h=fa.shape[2] - kh + 1, output_w=fa.shape[3] - kw + 1)
    return folded, fw, fa
