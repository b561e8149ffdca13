"""What a sweep stores per point, independent of the storage: the figures kept of a
:class:`~accelsim.arrays.breakdown.CycleBreakdown`, the total-row marker, the workload
columns, :class:`PointRecord`, and the flattening of hardware dicts into dotted columns
(shared by the store and the plots)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from accelsim.arrays.breakdown import CycleBreakdown
from accelsim.pipeline.area import AREA_PARTS
from accelsim.pipeline.energy import ENERGY_PARTS
from accelsim.simulate import TOTAL
from accelsim.spec.hardware import Hardware
from accelsim.yardstick import machine_figures, pass_figures

__all__ = ["AREA_COLUMNS", "COUNTS", "DERIVED", "ENERGY_COLUMNS", "FIGURES",
           "REFERENCE_FIGURES", "TOTAL", "WORKLOAD_KEYS", "PointRecord", "against_reference",
           "area_columns", "breakdown_of", "figures_of", "flatten_hardware"]

DERIVED = {"backward": ("backward_input", "backward_weight"),
           "training_step": ("forward", "backward_input", "backward_weight")}
COUNTS = ("base_cycles", "compute_cycles", "ideal_cycles", "stall_cycles", "effectual_macs",
          "pe_lane_cycles")
#: the energy of a pass per part (pJ), columns ``energy_<part>_pj`` summing to energy_pj
ENERGY_COLUMNS = tuple(f"energy_{part}_pj" for part in ENERGY_PARTS)
#: the area of a machine per part (mm2), columns ``area_<part>_mm2`` summing to area_mm2
AREA_COLUMNS = ("area_mm2", *(f"area_{part}_mm2" for part in AREA_PARTS))
#: the figures stored per row (:func:`accelsim.yardstick.pass_figures` without a
#: reference): cycles, the design's own figures, time, energy and its parts, GOPS figures
FIGURES = (*COUNTS, "speedup_vs_own_dense", "exploited_sparsity", "pe_utilisation", "time_s",
           "energy_pj", *ENERGY_COLUMNS, "base_energy_pj", "effectual_gops", "gops_per_w",
           "gops_per_mm2", "scheduled")
#: the figures a row gets on reading, from the row of its reference machine (same trace,
#: layer and pass; :func:`accelsim.yardstick.pass_figures`): its name and digest, time and
#: energy, speedup = reference time / time, energy_efficiency = reference energy / energy
#: (None when the reference's row is missing)
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


def figures_of(b: CycleBreakdown, hw: Hardware) -> dict[str, Any]:
    """The stored figures of a breakdown on ``hw`` (the keys of :data:`FIGURES`), made by
    :func:`accelsim.yardstick.pass_figures` (the energy breakdown as ``energy_<part>_pj``)."""
    d = pass_figures(b, hw)
    d["pe_lane_cycles"] = b.pe_lane_cycles
    d.update({f"energy_{k}_pj": v for k, v in d["energy_breakdown_pj"].items()})
    return {k: d[k] for k in FIGURES}


def area_columns(hw: Hardware) -> dict[str, float]:
    """The :data:`AREA_COLUMNS` of ``hw`` (mm2; :func:`accelsim.yardstick.machine_figures`)."""
    m = machine_figures(hw)
    return {"area_mm2": m["area_mm2"],
            **{f"area_{k}_mm2": v for k, v in m["area_breakdown_mm2"].items()}}


def breakdown_of(row: Mapping[str, Any]) -> CycleBreakdown:
    """The breakdown of a stored row (the inverse of :func:`figures_of`)."""
    return CycleBreakdown(row["base_cycles"], row["compute_cycles"], row["ideal_cycles"],
                          row["effectual_macs"], row["pe_lane_cycles"], row["stall_cycles"],
                          row["scheduled"] or "", row["energy_pj"], row["base_energy_pj"],
                          energy_parts_pj=tuple(row[k] or 0.0 for k in ENERGY_COLUMNS))


def against_reference(b: CycleBreakdown, hw: Hardware | None, ref: CycleBreakdown | None,
                      ref_hw: Hardware | None, name: str, digest: str) -> dict[str, Any]:
    """The :data:`REFERENCE_FIGURES` of ``b`` on ``hw`` against ``ref`` on ``ref_hw`` (the
    reference's row of the same trace, layer and pass; None when it or a machine is not
    stored: the figures are None)."""
    out: dict[str, Any] = {"reference": name or None, "reference_digest": digest or None,
                           "reference_time_s": None, "reference_energy_pj": None,
                           "speedup": None, "energy_efficiency": None}
    if hw is None or ref is None or ref_hw is None:
        return out
    d = pass_figures(b, hw, ref, ref_hw)
    out.update({k: d[k] for k in ("reference_time_s", "reference_energy_pj", "speedup",
                                  "energy_efficiency")})
    return out


def flatten_hardware(hw: Mapping[str, Any], name_key: str = "hardware_name") -> dict[str, Any]:
    """``Hardware.to_dict()`` -> ``{name_key: ..., "array.tiles": 16, ...}``."""
    out: dict[str, Any] = {name_key: hw.get("name", "")}
    for section, table in hw.items():
        if isinstance(table, Mapping):
            for key, value in table.items():
                out[f"{section}.{key}"] = value
    return out
