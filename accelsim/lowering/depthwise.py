"""DNNsim's mapping of a depthwise layer's forward pass (``[frontend] group_mapping =
"dnnsim"``; see :mod:`accelsim.lowering.lower`, "Group mapping"): ``min(lanes, rows)`` filters
a problem, filter ``i``'s weights in lane ``i`` and window lane ``i`` its input channel.
numpy only."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from accelsim.errors import LoweringError
from accelsim.lowering.layout import LoweredProblem, chunk_lanes, forward_indices, gather, taps_last
from accelsim.spec.array_sections import GROUP_MAPPINGS
from accelsim.spec.geometry import LayerGeometry

__all__ = ["depthwise_chunk", "forward_depthwise"]


def depthwise_chunk(geometry: LayerGeometry, pass_name: str, group_mapping: str, lanes: int,
                    rows: int | None) -> int:
    """Filters per problem of ``group_mapping``'s depthwise forward lowering (``min(lanes,
    rows)``, rows defaulting to lanes), or 0 when the pass is lowered per group: another
    mapping, pass or layer (see the module docstring)."""
    if group_mapping not in GROUP_MAPPINGS:
        raise LoweringError(f"group_mapping {group_mapping!r} is unknown; use one of "
                            f"{', '.join(map(repr, GROUP_MAPPINGS))}")
    g = geometry
    if (group_mapping != "dnnsim" or pass_name != "forward" or g.kind != "conv"
            or g.in_channels // g.groups != 1 or g.in_channels == 1):
        return 0
    if rows is not None and (isinstance(rows, bool) or not isinstance(rows, (int, np.integer))
                             or rows < 1):
        raise LoweringError(f"rows must be an integer >= 1, got {rows!r}")
    return int(min(lanes, lanes if rows is None else rows))


def forward_depthwise(g: LayerGeometry, weight: np.ndarray, act: np.ndarray, batch: int,
                      lanes: int, per: int, traversal: str,
                      chunk: int) -> Iterator[LoweredProblem]:
    """DNNsim's depthwise forward lowering (module docstring): chunks of ``chunk`` filters,
    filter ``i``'s weights in lane ``i``, window lane ``i`` its input channel; ``per``
    samples a problem; ``weight``, ``act`` 4-D."""
    iy, ix = forward_indices(g)
    taps = taps_last(weight.transpose(1, 0, 2, 3), traversal)[:, :, 0]  # [out, taps]
    per_channel = g.out_channels // g.in_channels
    parts = []
    for c0 in range(0, g.out_channels, chunk):
        n = min(chunk, g.out_channels - c0)
        f = np.zeros((n, taps.shape[1], lanes), dtype=weight.dtype)
        held = np.zeros(f.shape, dtype=bool)
        f[np.arange(n), :, np.arange(n)] = taps[c0:c0 + n]
        held[np.arange(n), :, np.arange(n)] = True
        f.flags.writeable = held.flags.writeable = False
        parts.append((c0, n, f, held, np.arange(c0, c0 + n) // per_channel))
    for n0 in range(0, batch, per):
        n1 = min(batch, n0 + per)
        for k, (c0, n, f, held, channels) in enumerate(parts):
            x = chunk_lanes(gather(act[n0:n1][:, channels], iy, ix, traversal), lanes)
            yield LoweredProblem(f, x, ("forward", n0, n1, k, c0, c0 + n), held)
