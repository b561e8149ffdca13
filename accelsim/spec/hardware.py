"""Hardware description: the machine the simulator models, as data.

The machine is, by default (``[array] kind = "bit-tactical"``), a Bit-Tactical-style sparse PE
array (Delmas Lascorz et al., "Bit-Tactical: A Software/Hardware Approach to Exploiting Value
and Bit Sparsity in Neural Networks", ASPLOS 2019) as modelled by the public DNNsim simulator
(github.com/isakedo/DNNsim).  The other array kinds are the baselines sparse designs are
compared against (:mod:`accelsim.arrays`): ``"systolic"`` (a dense systolic array, SCALE-Sim
v3's compute model), ``"scnn"`` (Parashar et al., ISCA 2017) and ``"ideal"`` (effectual MACs
only).

A description is a TOML file (or the equivalent dict) with the sections ``[array]``,
``[frontend]``, ``[backend]``, ``[memory]`` and ``[energy]`` (bit-tactical), or ``[array]``,
``[systolic]`` / ``[scnn]`` / ``[ideal]``, ``[memory]`` and ``[energy]`` (the other kinds),
plus an optional top-level ``name``.  A section or an ``[array]`` key that does not belong to
the array kind is rejected (:data:`KIND_SECTIONS`, :data:`KIND_ARRAY_KEYS`).  It is loaded one way only::

    file / dict  ->  validate  ->  frozen Hardware

with :func:`load_hardware`.  Every dataclass here is frozen and validated in
``__post_init__``; constructors compute nothing.  Every missing key takes the default
(a 16-tile, 16x1, 16-lane, 16-bit, 1 GHz array with the TCL front end T<2,5>), every
unknown section or key, wrong type or bad value raises a one-line :class:`HardwareError`
naming ``[section] key``, the bad value and the fix.  The shipped descriptions live in
``accelsim/spec/data/*.toml`` (:func:`builtin_hardware`).
"""


from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from accelsim.errors import HardwareError
from accelsim.spec.array_sections import LATE_KEYS
from accelsim.spec.checks import check_sizes, show, suggest, toml_string, toml_type, toml_value
from accelsim.spec.sections import (
    DENSE_KINDS,
    KIND_ARRAY_KEYS,
    KIND_SECTIONS,
    MODEL_SECTIONS,
    SECTION_CLASSES,
    SECTIONS,
    SIZE_KEYS,
    ArraySpec,
    BackendSpec,
    EnergySpec,
    FrontendSpec,
    IdealSpec,
    MemorySpec,
    ScnnSpec,
    SystolicSpec,
)

__all__ = ["BUILTIN_HARDWARE", "DATA_DIR", "DEFAULT_NAME", "Hardware", "builtin_hardware",
           "default_hardware", "dense_baseline", "ideal_bound", "load_hardware"]

BUILTIN_HARDWARE = ("bit-tactical", "dadiannao", "bit-tactical-tclp", "bit-tactical-tcle",
                    "systolic-os-32x32", "scnn", "ideal")
DEFAULT_NAME = "bit-tactical T<2,5>"
DATA_DIR = Path(__file__).resolve().parent / "data"



@dataclass(frozen=True)
class Hardware:
    """A whole machine.  Build it with :func:`load_hardware`; ``name`` is free text.

    ``name`` takes part in equality, :meth:`to_dict` and :meth:`digest` like every other
    field.
    """

    array: ArraySpec = field(default_factory=ArraySpec)
    frontend: FrontendSpec = field(default_factory=FrontendSpec)
    backend: BackendSpec = field(default_factory=BackendSpec)
    memory: MemorySpec = field(default_factory=MemorySpec)
    energy: EnergySpec = field(default_factory=EnergySpec)
    name: str = ""
    systolic: SystolicSpec = field(default_factory=SystolicSpec)
    scnn: ScnnSpec = field(default_factory=ScnnSpec)
    ideal: IdealSpec = field(default_factory=IdealSpec)

    def __post_init__(self) -> None:
        for section, cls in SECTION_CLASSES.items():
            value = getattr(self, section)
            if not isinstance(value, cls):
                raise HardwareError(f"[{section}] must be of type {cls.__name__}, not "
                                    f"{type(value).__name__}; build hardware with load_hardware()")
        if not isinstance(self.name, str):
            raise HardwareError(f"name = {show(self.name)} must be a string (free text), not a "
                                f"{toml_type(self.name)}")
        self._check_kind()
        check_sizes(self)
        lanes, d = self.array.lanes, self.frontend.lookaside
        if self.frontend.kind != "dense" and d >= lanes:
            raise HardwareError(f"[frontend] lookaside = {d} must be < [array] lanes = {lanes} "
                                f"(d reaches at most lanes - 1 lanes aside); use lookaside <= "
                                f"{lanes - 1} or more lanes")
        bits = self.array.pe_bits
        if self.backend.serial and not 2 <= bits <= 16:
            raise HardwareError(f'[array] pe_bits = {bits} does not fit [backend] kind = '
                                f'"{self.backend.kind}": bit-serial back ends take 2..16-bit '
                                "sign-magnitude values; use pe_bits in 2..16")

    def _check_kind(self) -> None:
        """Sections and ``[array]`` keys that do not belong to ``array.kind`` keep their
        defaults (a one-line HardwareError otherwise)."""
        kind = self.array.kind
        default = ArraySpec()
        for f in fields(ArraySpec):
            value = getattr(self.array, f.name)
            if f.name not in KIND_ARRAY_KEYS[kind] and value != getattr(default, f.name):
                raise HardwareError(
                    f'[array] {f.name} = {show(value)} does not apply to [array] kind = '
                    f'"{kind}" (it sizes the Bit-Tactical array); remove it and size the '
                    f"array with {SIZE_KEYS[kind]}")
        for section in SECTIONS:
            if section not in KIND_SECTIONS[kind] \
                    and getattr(self, section) != SECTION_CLASSES[section]():
                raise HardwareError(_foreign_message(section, kind))

    def describe(self) -> str:
        """One line: the name and the array, e.g. ``"systolic-os-32x32 (systolic 32x32, os,
        compat scalesim, memory ideal)"``."""
        what = ", ".join(getattr(self, s).describe() for s in MODEL_SECTIONS[self.array.kind])
        return f"{self.name or 'unnamed'} ({what}, memory {self.memory.kind})"

    @property
    def multipliers(self) -> int:
        """Peak MACs per cycle of the array, whatever its kind."""
        return getattr(self, MODEL_SECTIONS[self.array.kind][0]).multipliers

    # ---- (de)serialisation ------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """``{"name": ..., "array": {...}, "frontend": {...}, ..., "energy": {}}`` with the
        sections and ``[array]`` keys of ``array.kind`` only (:data:`KIND_SECTIONS`, so a
        Bit-Tactical machine's dict and digest are those it had before the other kinds
        existed) and the keys of :data:`~accelsim.spec.array_sections.LATE_KEYS` only when set
        away from their default; plain JSON/TOML types, ``load_hardware(hw.to_dict()) == hw``."""
        kind = self.array.kind
        out: dict[str, Any] = {"name": self.name}
        for section in KIND_SECTIONS[kind]:
            out[section] = asdict(getattr(self, section))
            cls = SECTION_CLASSES[section]
            for f in fields(cls):
                if isinstance(f.default, float):
                    out[section][f.name] = float(out[section][f.name])
        out["array"] = {k: v for k, v in out["array"].items() if k in KIND_ARRAY_KEYS[kind]}
        for section, late in LATE_KEYS.items():  # keys added later appear only when set
            for key, default in late.items() if section in out else ():
                if out[section][key] == default:
                    del out[section][key]
        return out

    def to_toml(self) -> str:
        """The description as TOML text; ``load_hardware`` of it gives this object back."""
        data = self.to_dict()
        lines = [f"name = {toml_string(data.pop('name'))}"]  # sections of the kind only
        for section, table in data.items():
            lines += ["", f"[{section}]"]
            lines += [f"{key} = {toml_value(value)}" for key, value in table.items()]
        return "\n".join(lines) + "\n"

    def digest(self) -> str:
        """sha256 hex digest of the canonical JSON (sorted keys, no spaces) of
        :meth:`to_dict`: stable across runs and machines, for keying results stores."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=True, allow_nan=False)
        return hashlib.sha256(text.encode("ascii")).hexdigest()

    def replace(self, **changes: Any) -> Hardware:
        """A new, validated Hardware with dotted keys changed, for sweeps::

            hw.replace(**{"frontend.lookahead": 4, "array.tiles": 8, "name": "T<4,5>"})
            systolic.replace(**{"systolic.height": 64, "systolic.dataflow": "ws"})

        Changing ``array.kind`` switches the array model: the sections and ``[array]`` keys of
        the old kind that the new one does not take are dropped (unless also changed, which
        is then an error), e.g. ``hw.replace(**{"array.kind": "systolic",
        "systolic.dataflow": "ws"})``.
        """
        full = {"name": self.name}
        for section in SECTIONS:
            full[section] = asdict(getattr(self, section))
        data = self.to_dict()
        touched: dict[str, set[str]] = {}
        for dotted, value in changes.items():
            if dotted == "name":
                data["name"] = value
                continue
            section, dot, key = dotted.partition(".")
            if not dot or section not in SECTION_CLASSES:
                raise HardwareError(f"replace(): {dotted!r} is not a known key; use 'name' or "
                                    f"'section.key' with section one of {', '.join(SECTIONS)}")
            if key not in full[section]:
                raise HardwareError(f"replace(): [{section}] {key} is not a known key"
                                    f"{suggest(key, full[section])}; known keys: "
                                    f"{', '.join(full[section])}")
            data.setdefault(section, {})[key] = value
            touched.setdefault(section, set()).add(key)
        kind = data["array"].get("kind", ArraySpec.kind)
        if isinstance(kind, str) and kind in KIND_SECTIONS:
            for section in list(data):
                if section in SECTION_CLASSES and section not in KIND_SECTIONS[kind] \
                        and section not in touched:
                    del data[section]
            keep = set(KIND_ARRAY_KEYS[kind]) | touched.get("array", set())
            data["array"] = {k: v for k, v in data["array"].items() if k in keep}
        return load_hardware(data)


def _foreign_message(section: str, kind: str) -> str:
    """Error text for a section that ``[array] kind`` does not take."""
    owners = [k for k, secs in KIND_SECTIONS.items() if section in secs]
    listed = " or ".join(f'"{k}"' for k in owners)
    return (f'[{section}] does not apply to [array] kind = "{kind}" (it belongs to kind '
            f"{listed}); remove the [{section}] section or set [array] kind = {listed}")


def _section_of(key: str) -> str | None:
    for section, cls in SECTION_CLASSES.items():
        if key in {f.name for f in fields(cls)} and key != "kind":
            return section
    return None


def _from_dict(data: Any) -> Hardware:
    if not isinstance(data, dict):
        raise HardwareError(f"a hardware description must be a table (dict), not "
                            f"{type(data).__name__}")
    for key, value in data.items():
        if key == "name" or key in SECTION_CLASSES:
            continue
        if isinstance(value, dict):
            raise HardwareError(f"[{key}] is not a known section{suggest(key, SECTIONS)}; known "
                                f"sections: {', '.join(f'[{s}]' for s in SECTIONS)}")
        home = _section_of(str(key))
        hint = f"; put it under the [{home}] header" if home else ""
        raise HardwareError(f"{key} is not a known top-level key{hint}; known top-level keys: "
                            f"name, and the sections {', '.join(f'[{s}]' for s in SECTIONS)}")
    parts: dict[str, Any] = {}
    array_table = data.get("array", {})
    kind = array_table.get("kind", ArraySpec.kind) if isinstance(array_table, dict) else None
    for section, cls in SECTION_CLASSES.items():
        table = data.get(section, {})
        if not isinstance(table, dict):
            raise HardwareError(f"[{section}] must be a table of keys, not {show(table)} "
                                f"(a {toml_type(table)})")
        if isinstance(kind, str) and kind in KIND_SECTIONS:
            if section in data and section not in KIND_SECTIONS[kind]:
                raise HardwareError(_foreign_message(section, kind))
            if section == "array":
                for key in table:
                    if key in ArraySpec.__dataclass_fields__ and key not in KIND_ARRAY_KEYS[kind]:
                        raise HardwareError(
                            f'[array] {key} does not apply to [array] kind = "{kind}" (it sizes '
                            f"the Bit-Tactical array); remove it and size the array with "
                            f"{SIZE_KEYS[kind]}")
        known = [f.name for f in fields(cls)]
        for key in table:
            if key in known:
                continue
            if not known:
                raise HardwareError(f"[{section}] {key}: the [{section}] section is reserved and "
                                    f"must be empty for now; remove {key}")
            if section == "array" and isinstance(kind, str) and kind in KIND_ARRAY_KEYS:
                known = list(KIND_ARRAY_KEYS[kind])
            if section == "energy":
                raise HardwareError(
                    f"[energy] {key} is not a known key; energies and areas come from the "
                    "technology table: copy accelsim/spec/data/technology/45nm.toml, edit it and "
                    "set [energy] technology = \"path/to/it.toml\" (known keys: technology)")
            home = _section_of(str(key))
            where = f"; it belongs under the [{home}] header" if home and home != section else ""
            raise HardwareError(f"[{section}] {key} is not a known key{suggest(key, known)}"
                                f"{where}; known keys: {', '.join(known)}")
        values = dict(table)
        for f in fields(cls):  # TOML `clock_ghz = 1` is an integer: floats take integers
            value = values.get(f.name)
            if (isinstance(f.default, float) and isinstance(value, int)
                    and not isinstance(value, bool)):
                values[f.name] = float(value)
        parts[section] = cls(**values)
    return Hardware(name=data.get("name", ""), **parts)


def _from_file(path: str | os.PathLike) -> Hardware:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise HardwareError(f"hardware file {p} not found; give a TOML file or one of the "
                            f"built-in names {', '.join(BUILTIN_HARDWARE)}") from None
    except OSError as exc:
        raise HardwareError(f"hardware file {p} cannot be read: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise HardwareError(f"{p}: not UTF-8 text (bad byte at offset {exc.start}); save the "
                            "hardware file as UTF-8 TOML") from None
    except tomllib.TOMLDecodeError as exc:
        raise HardwareError(f"{p}: TOML syntax error: {exc}; fix the file") from None
    try:
        return _from_dict(data)
    except HardwareError as exc:
        raise HardwareError(f"{p}: {exc}") from None


def load_hardware(source: str | os.PathLike | dict | Hardware | None = None) -> Hardware:
    """The one way to build a :class:`Hardware`.

    * ``None`` -> :func:`default_hardware`;
    * a :class:`Hardware` -> itself (already validated);
    * a dict -> validated like a parsed TOML file (missing keys take the defaults);
    * a path (``str`` or ``os.PathLike``) -> the TOML file; a ``str`` that is no existing
      file but a built-in name (:data:`BUILTIN_HARDWARE`) -> :func:`builtin_hardware`.

    Raises :class:`HardwareError` (one line, naming the file, ``[section] key``, the bad
    value and the fix) for a missing or unreadable file, a TOML syntax error (with its
    line), an unknown section or key, a wrong type or an invalid value.
    """
    if source is None:
        return default_hardware()
    if isinstance(source, Hardware):
        return source
    if isinstance(source, dict):
        return _from_dict(source)
    if isinstance(source, str) and source in BUILTIN_HARDWARE and not Path(source).exists():
        return builtin_hardware(source)
    if isinstance(source, (str, os.PathLike)):
        return _from_file(source)
    raise HardwareError(f"hardware must be a TOML file path, a dict, a Hardware or None, not "
                        f"{type(source).__name__}")


def default_hardware() -> Hardware:
    """The default machine: 16 tiles x 16 rows x 1 column, 16 lanes, 16-bit PEs at 1 GHz,
    TCL T<2,5>, least-flexible first, sparser operand scheduled, bit-parallel back end,
    ideal memory.  Equal to ``builtin_hardware("bit-tactical")``."""
    return Hardware(name=DEFAULT_NAME)


def dense_baseline(hw: Hardware) -> Hardware:
    """The DaDianNao-like baseline of ``hw``: the same machine with ``[frontend] kind =
    "dense"`` (no zero skipping); the other front-end fields are kept (and ignored).
    A dense ``hw`` (or a systolic array, always dense) is returned as it is."""
    if not isinstance(hw, Hardware):
        raise HardwareError(f"dense_baseline() needs a Hardware, not {type(hw).__name__}; "
                            "build one with load_hardware()")
    if "frontend" not in KIND_SECTIONS[hw.array.kind]:
        if hw.array.kind in DENSE_KINDS:
            return hw  # already dense
        takes = [k for k, secs in KIND_SECTIONS.items() if "frontend" in secs] + list(DENSE_KINDS)
        raise HardwareError(f"dense_baseline() is defined for [array] kind = "
                            f"{' and '.join(map(show, takes))}, not {show(hw.array.kind)} "
                            "(its reports carry their own "
                            "dense base cycles); use a bit-tactical or systolic machine")
    if hw.frontend.kind == "dense":
        return hw
    name = f"dense baseline of {hw.name}" if hw.name else "dense baseline"
    return dataclasses.replace(hw, frontend=dataclasses.replace(hw.frontend, kind="dense"),
                               name=name)


def ideal_bound(hw: Hardware) -> Hardware:
    """The ideal array (``[array] kind = "ideal"``) with the peak MACs per cycle
    (:attr:`Hardware.multipliers`), ``pe_bits``, clock, memory and energy of ``hw``: the
    bound ``hw``'s compute cycles are measured against on the same trace."""
    if not isinstance(hw, Hardware):
        raise HardwareError(f"ideal_bound() needs a Hardware, not {type(hw).__name__}; "
                            "build one with load_hardware()")
    name = f"ideal bound of {hw.name}" if hw.name else "ideal bound"
    return load_hardware({"name": name,
                          "array": {"kind": "ideal", "pe_bits": hw.array.pe_bits,
                                    "clock_ghz": hw.array.clock_ghz},
                          "ideal": {"multipliers": hw.multipliers},
                          "memory": asdict(hw.memory), "energy": asdict(hw.energy)})


def builtin_hardware(name: str) -> Hardware:
    """A shipped description: ``"bit-tactical"`` (TCL T<2,5>), ``"dadiannao"`` (the same
    array, dense front end), ``"bit-tactical-tclp"`` / ``"bit-tactical-tcle"`` (T<2,5> with
    a bit-serial back end and 16 columns), ``"systolic-os-32x32"`` (SCALE-Sim's default
    32x32 output-stationary array), ``"scnn"`` (the SCNN paper's 64 PEs of 4x4 multipliers)
    and ``"ideal"`` (4096 effectual MACs per cycle), read from
    ``accelsim/spec/data/<name>.toml``."""
    if name not in BUILTIN_HARDWARE:
        raise HardwareError(f"unknown built-in hardware {show(name)}; choose one of "
                            f"{', '.join(BUILTIN_HARDWARE)} or give a TOML file path")
    return _from_file(DATA_DIR / f"{name}.toml")
