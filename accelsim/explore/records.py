"""What a sweep stores per point, independent of the storage: the figures kept of a
:class:`~accelsim.arrays.breakdown.CycleBreakdown`, the total-row marker, the workload
columns, :class:`PointRecord`, and the flattening of hardware dicts into dotted columns
(shared by the store and the plots)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from accelsim.arrays.breakdown import CycleBreakdown
from accelsim.simulate import TOTAL

__all__ = ["COUNTS", "DERIVED", "FIGURES", "TOTAL", "WORKLOAD_KEYS", "PointRecord",
           "breakdown_of", "figures_of", "flatten_hardware"]

DERIVED = {"backward": ("backward_input", "backward_weight"),
           "training_step": ("forward", "backward_input", "backward_weight")}
COUNTS = ("base_cycles", "compute_cycles", "ideal_cycles", "stall_cycles", "effectual_macs",
          "pe_lane_cycles")
FIGURES = (*COUNTS, "speedup", "exploited_sparsity", "pe_utilisation", "energy_pj",
           "base_energy_pj", "energy_efficiency", "scheduled")
WORKLOAD_KEYS = ("trace", "workload_kind", "model", "dataset", "method", "sparsity", "batch",
                 "step")


@dataclass(frozen=True)
class PointRecord:
    """Everything written for one computed point (one transaction).

    ``rows``: per (layer, pass) ``(layer, layer_index, pass, CycleBreakdown)``, the total rows
    (layer :data:`TOTAL`, index -1) included; ``passes``: the passes this record completes;
    ``hardware``: :meth:`Hardware.to_dict`; ``workload``: the keys of :data:`WORKLOAD_KEYS`
    plus ``json`` (the workload's full description)."""

    trace_digest: str
    hardware_digest: str
    passes: tuple[str, ...]
    rows: tuple[tuple[str, int, str, CycleBreakdown], ...]
    hardware: dict[str, Any]
    workload: dict[str, Any]
    params: dict[str, Any]
    sweep: str = ""
    seconds: float = 0.0
    worker: str = ""


def figures_of(b: CycleBreakdown) -> dict[str, Any]:
    """The stored figures of a breakdown (the keys of :data:`FIGURES`)."""
    d = b.to_dict()
    d["pe_lane_cycles"] = b.pe_lane_cycles
    return {k: d[k] for k in FIGURES}


def breakdown_of(row: Mapping[str, Any]) -> CycleBreakdown:
    """The breakdown of a stored row (the inverse of :func:`figures_of`)."""
    return CycleBreakdown(row["base_cycles"], row["compute_cycles"], row["ideal_cycles"],
                          row["effectual_macs"], row["pe_lane_cycles"], row["stall_cycles"],
                          row["scheduled"] or "", row["energy_pj"], row["base_energy_pj"])


def flatten_hardware(hw: Mapping[str, Any], name_key: str = "hardware_name") -> dict[str, Any]:
    """``Hardware.to_dict()`` -> ``{name_key: ..., "array.tiles": 16, ...}``."""
    out: dict[str, Any] = {name_key: hw.get("name", "")}
    for section, table in hw.items():
        if isinstance(table, Mapping):
            for key, value in table.items():
                out[f"{section}.{key}"] = value
    return out
