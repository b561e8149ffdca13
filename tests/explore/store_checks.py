"""Helpers of the sweep and store tests."""

from __future__ import annotations

from typing import Any

from accelsim.arrays.breakdown import CycleBreakdown


def stored(b: CycleBreakdown) -> dict[str, Any]:
    """The figures of a breakdown as the store names them: the speedup against the machine's
    own dense twin is ``speedup_vs_own_dense`` (``speedup`` and ``energy_efficiency`` are
    against the reference machine); no quantisation column."""
    d = {k: v for k, v in b.to_dict().items() if k not in ("quantisation", "energy_efficiency")}
    d["speedup_vs_own_dense"] = d.pop("speedup")
    return d
