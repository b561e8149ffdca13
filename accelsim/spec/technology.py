"""Technology tables: the energy and area of the components every machine is built from,
as data (``accelsim/spec/data/technology/<name>.toml``, every number with its source).

A table is loaded one way only, ``file -> validate -> frozen Technology``, by
:func:`load_technology` (a built-in name such as ``"45nm"`` or a TOML file path).  A hardware
description selects one with ``[energy] technology`` (:class:`accelsim.spec.sections.EnergySpec`);
the energy model (:mod:`accelsim.pipeline.energy`) and the area model
(:mod:`accelsim.pipeline.area`) price their counts with it.
"""

from __future__ import annotations

import functools
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accelsim.errors import HardwareError
from accelsim.spec.checks import check_int, check_positive_float, show

__all__ = ["BUILTIN_TECHNOLOGIES", "TECHNOLOGY_DIR", "Component", "Technology",
           "load_technology"]

TECHNOLOGY_DIR = Path(__file__).resolve().parent / "data" / "technology"
BUILTIN_TECHNOLOGIES = ("45nm", "65nm")


@dataclass(frozen=True)
class Component:
    """Energy (pJ per operation) and area (um2) of a component measured at a few operand
    widths (``bits``, ascending); :meth:`at` interpolates on a log-log line."""

    section: str
    bits: tuple[int, ...]
    energy_pj: tuple[float, ...]
    area_um2: tuple[float, ...]

    def __post_init__(self) -> None:
        if not (len(self.bits) == len(self.energy_pj) == len(self.area_um2) >= 2):
            raise HardwareError(f"[{self.section}] bits, energy_pj and area_um2 must be lists "
                                "of the same length, at least 2 points; give e.g. bits = [8, 32]")
        for b in self.bits:
            check_int(self.section, "bits", b, 1, "operand width in bits")
        if list(self.bits) != sorted(set(self.bits)):
            raise HardwareError(f"[{self.section}] bits = {list(self.bits)} must be strictly "
                                "ascending; sort the points")
        for key in ("energy_pj", "area_um2"):
            for v in getattr(self, key):
                check_positive_float(self.section, key, v, "per-component figure")

    def at(self, bits: int) -> tuple[float, float]:
        """(energy in pJ, area in um2) at ``bits``: exact at a listed width, else on the
        log-log line through the two nearest listed widths (extrapolated outside them)."""
        i = min(max(sum(b <= bits for b in self.bits) - 1, 0), len(self.bits) - 2)
        b0, b1 = self.bits[i], self.bits[i + 1]
        t = math.log(bits / b0) / math.log(b1 / b0)
        e = self.energy_pj[i] * (self.energy_pj[i + 1] / self.energy_pj[i]) ** t
        a = self.area_um2[i] * (self.area_um2[i + 1] / self.area_um2[i]) ** t
        return e, a


@dataclass(frozen=True)
class Technology:
    """One technology node's component figures (units in the field names; sources in the
    table file).  ``multiplier`` / ``adder``: per operation and per instance at a width;
    ``serial_lane_*``: the AND gates of a bit-serial lane, per weight bit; ``mux_*``: per
    bit of a 2:1 multiplexer cell; ``sram_*``: on-chip buffers; ``dram_energy_pj_per_bit``: off-chip."""

    name: str
    node_nm: int
    multiplier: Component
    adder: Component
    serial_lane_energy_pj_per_bit: float
    serial_lane_area_um2_per_bit: float
    mux_energy_pj_per_bit: float
    mux_area_um2_per_bit: float
    sram_read_pj_per_bit: float
    sram_write_pj_per_bit: float
    sram_area_mm2_per_kib: float
    dram_energy_pj_per_bit: float

    def __post_init__(self) -> None:
        check_int("technology", "node_nm", self.node_nm, 1, "feature size in nm")
        for key in ("serial_lane_energy_pj_per_bit", "serial_lane_area_um2_per_bit",
                    "mux_energy_pj_per_bit", "mux_area_um2_per_bit",
                    "sram_read_pj_per_bit", "sram_write_pj_per_bit", "sram_area_mm2_per_kib",
                    "dram_energy_pj_per_bit"):
            check_positive_float("technology", key, getattr(self, key), "per-component figure")

    def mac(self, bits: int) -> tuple[float, float]:
        """(pJ, um2) of one bit-parallel lane: a ``bits`` x ``bits`` multiplier and its share
        of the PE's adder tree and accumulator, one adder of ``2 * bits`` bits."""
        (me, ma), (ae, aa) = self.multiplier.at(bits), self.adder.at(2 * bits)
        return me + ae, ma + aa

    def serial_lane(self, bits: int) -> tuple[float, float]:
        """(pJ per cycle, um2) of one bit-serial lane: ``bits`` AND gates (a ``bits``-bit
        weight times one activation bit or term) and its share of the adder tree, one adder
        of ``bits + 4`` bits (the sum of 16 lanes grows by 4 bits)."""
        ae, aa = self.adder.at(bits + 4)
        return (bits * self.serial_lane_energy_pj_per_bit + ae,
                bits * self.serial_lane_area_um2_per_bit + aa)


_SECTIONS = {
    "serial_lane": {"energy_pj_per_bit": "serial_lane_energy_pj_per_bit",
                    "area_um2_per_bit": "serial_lane_area_um2_per_bit"},
    "mux": {"energy_pj_per_bit": "mux_energy_pj_per_bit",
            "area_um2_per_bit": "mux_area_um2_per_bit"},
    "sram": {"read_pj_per_bit": "sram_read_pj_per_bit",
             "write_pj_per_bit": "sram_write_pj_per_bit",
             "area_mm2_per_kib": "sram_area_mm2_per_kib"},
    "dram": {"energy_pj_per_bit": "dram_energy_pj_per_bit"},
}
_COMPONENTS = ("multiplier", "adder")


def _table(data: dict[str, Any], section: str) -> dict[str, Any]:
    table = data.get(section)
    if not isinstance(table, dict):
        raise HardwareError(f"[{section}] is missing; every technology table needs the sections "
                            f"{', '.join(_COMPONENTS + tuple(_SECTIONS))} (see 45nm.toml)")
    return table


def _number(value: Any) -> Any:
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _from_dict(data: dict[str, Any]) -> Technology:
    known = {"name", "node_nm", *_COMPONENTS, *_SECTIONS}
    for key in data:
        if key not in known:
            raise HardwareError(f"{key} is not a key of a technology table; known: "
                                f"{', '.join(sorted(known))}")
    parts: dict[str, Any] = {}
    for section in _COMPONENTS:
        table = _table(data, section)
        if set(table) != {"bits", "energy_pj", "area_um2"}:
            raise HardwareError(f"[{section}] needs exactly the keys bits, energy_pj, area_um2, "
                                f"not {', '.join(sorted(table))}")
        lists = [table[k] for k in ("bits", "energy_pj", "area_um2")]
        if not all(isinstance(v, list) for v in lists):
            raise HardwareError(f"[{section}] bits, energy_pj and area_um2 must be lists")
        parts[section] = Component(section, tuple(lists[0]), tuple(map(_number, lists[1])),
                                   tuple(map(_number, lists[2])))
    for section, keys in _SECTIONS.items():
        table = _table(data, section)
        if set(table) != set(keys):
            raise HardwareError(f"[{section}] needs exactly the keys {', '.join(keys)}, not "
                                f"{', '.join(sorted(table))}")
        parts.update({field: _number(table[key]) for key, field in keys.items()})
    name = data.get("name", "")
    if not isinstance(name, str):
        raise HardwareError(f"name = {show(name)} must be a string")
    return Technology(name=name, node_nm=data.get("node_nm", 0), **parts)


@functools.lru_cache(maxsize=32)
def _load(path: Path) -> Technology:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HardwareError(f"technology table {path} not found; give a TOML file or one of the "
                            f"built-in names {', '.join(BUILTIN_TECHNOLOGIES)}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise HardwareError(f"technology table {path} cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise HardwareError(f"{path}: TOML syntax error: {exc}; fix the file") from None
    try:
        return _from_dict(data)
    except HardwareError as exc:
        raise HardwareError(f"technology table {path}: {exc}") from None


def load_technology(source: str) -> Technology:
    """The technology table ``source``: a built-in name (:data:`BUILTIN_TECHNOLOGIES`) or a
    TOML file path (same keys as ``accelsim/spec/data/technology/45nm.toml``).  Cached per
    path: a table is read once per process."""
    if not isinstance(source, str) or not source:
        raise HardwareError(f"[energy] technology = {show(source)} must be a built-in name "
                            f"({', '.join(BUILTIN_TECHNOLOGIES)}) or a TOML file path")
    if source in BUILTIN_TECHNOLOGIES:
        return _load(TECHNOLOGY_DIR / f"{source}.toml")
    return _load(Path(source).resolve())
