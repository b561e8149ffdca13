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

__all__ = ["COUNTS", "DERIVED", "FIGURES", "REFERENCE_FIGURES", "TOTAL", "WORKLOAD_KEYS",
           "PointRecord", "breakdown_of", "figures_of", "flatten_hardware", "against_reference",
           "time_s"]

DERIVED = {"backward": ("backward_input", "backward_weight"),
           "training_step": ("forward", "backward_input", "backward_weight")}
COUNTS = ("base_cycles", "compute_cycles", "ideal_cycles", "stall_cycles", "effectual_macs",
          "pe_lane_cycles")
#: the figures stored per row: cycles, the design's own figures, time and energy
FIGURES = (*COUNTS, "speedup_vs_own_dense", "exploited_sparsity", "pe_utilisation", "time_s",
           "energy_pj", "base_energy_pj", "scheduled")
#: the figures a row gets on reading, from the row of its reference machine (same trace,
#: layer and pass): its name and digest, time and energy, speedup = reference time / time,
#: energy_efficiency = reference energy / energy (None when the reference row is missing)
REFERENCE_FIGURES = ("reference", "reference_digest", "reference_time_s",
                     "reference_energy_pj", "speedup", "energy_efficiency")
WORKLOAD_KEYS = ("trace", "workload_kind", "model", "dataset", "method", "sparsity", "batch",
                 "step")


@dataclass(frozen=True)
class PointRecord:
    """Everything written for one computed point (one transaction).

    ``rows``: per (layer, pass) ``(layer, layer_index, pass, CycleBreakdown)``, the total rows
    (layer :data:`TOTAL`, index -1) included; ``passes``: the passes this record completes;
    ``hardware``: :meth:`Hardware.to_dict`; ``workload``: the keys of :data:`WORKLOAD_KEYS`
    plus ``json`` (the workload's full description); ``label``: the point's name
    (:func:`accelsim.explore.labels.point_label`); ``reference`` / ``reference_digest``: the
    machine its speedups are measured against."""

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
    label: str = ""
    reference: str = ""
    reference_digest: str = ""


def time_s(b: CycleBreakdown, clock_ghz: float) -> float:
    """Seconds of a breakdown on a machine clocked at ``clock_ghz`` GHz:
    (compute + stall cycles) / clock."""
    return b.total_cycles / (float(clock_ghz) * 1e9)


def figures_of(b: CycleBreakdown, clock_ghz: float) -> dict[str, Any]:
    """The stored figures of a breakdown (the keys of :data:`FIGURES`) on a machine clocked
    at ``clock_ghz`` GHz."""
    d = b.to_dict()
    d["pe_lane_cycles"] = b.pe_lane_cycles
    d["speedup_vs_own_dense"] = b.speedup
    d["time_s"] = time_s(b, clock_ghz)
    return {k: d[k] for k in FIGURES}


def breakdown_of(row: Mapping[str, Any]) -> CycleBreakdown:
    """The breakdown of a stored row (the inverse of :func:`figures_of`)."""
    return CycleBreakdown(row["base_cycles"], row["compute_cycles"], row["ideal_cycles"],
                          row["effectual_macs"], row["pe_lane_cycles"], row["stall_cycles"],
                          row["scheduled"] or "", row["energy_pj"], row["base_energy_pj"])


def against_reference(row: Mapping[str, Any], ref: Mapping[str, Any] | None,
                      name: str, digest: str) -> dict[str, Any]:
    """The :data:`REFERENCE_FIGURES` of ``row`` given the reference machine's row ``ref`` of
    the same trace, layer and pass (None: not stored, the figures are None)."""
    out: dict[str, Any] = {"reference": name or None, "reference_digest": digest or None,
                           "reference_time_s": None, "reference_energy_pj": None,
                           "speedup": None, "energy_efficiency": None}
    if ref is None:
        return out
    t, e = ref.get("time_s"), ref.get("energy_pj")
    out["reference_time_s"], out["reference_energy_pj"] = t, e
    if t is not None and row.get("time_s"):
        out["speedup"] = t / row["time_s"]
    elif t is not None and not t:
        out["speedup"] = 1.0   # nothing to do on either machine
    if e is not None and row.get("energy_pj"):
        out["energy_efficiency"] = e / row["energy_pj"]
    return out


def flatten_hardware(hw: Mapping[str, Any], name_key: str = "hardware_name") -> dict[str, Any]:
    """``Hardware.to_dict()`` -> ``{name_key: ..., "array.tiles": 16, ...}``."""
    out: dict[str, Any] = {name_key: hw.get("name", "")}
    for section, table in hw.items():
        if isinstance(table, Mapping):
            for key, value in table.items():
                out[f"{section}.{key}"] = value
    return out
