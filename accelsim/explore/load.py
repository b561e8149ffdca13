"""Loading a sweep spec: a TOML file or a dict -> validated, frozen
:class:`~accelsim.explore.spec.SweepSpec` (the one way to build one)."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from accelsim.errors import AccelsimError
from accelsim.explore.grid import (
    expand_hardware,
    flatten_table,
    hardware_keys,
    hardware_source,
    values,
)
from accelsim.explore.spec import (
    REFERENCE,
    TOP_KEYS,
    WORKLOAD_TABLE_KEYS,
    HardwarePoint,
    SweepError,
    SweepSpec,
    Workload,
    scalar,
)
from accelsim.explore.workloads import synthetic_workloads, trace_workloads
from accelsim.networks.catalog import TableDeriver
from accelsim.spec.checks import show, suggest
from accelsim.spec.hardware import Hardware, load_hardware
from accelsim.trace.schema import PASSES

__all__ = ["load_sweep"]


def load_sweep(source: str | os.PathLike[str] | Mapping[str, Any], *,
               base_dir: str | os.PathLike[str] | None = None,
               derive: TableDeriver | None = None) -> SweepSpec:
    """The one way to build a :class:`SweepSpec`: from a TOML file (relative paths inside
    it are relative to the file) or a dict (relative to ``base_dir``, default the current
    directory).  ``derive`` derives the layer tables of synthetic workloads that do not ship
    (``workloads.tables.model_layer_table``, needs torch).  Raises :class:`SweepError` (one
    line) for any bad key or value, a missing trace, or a sweep without any valid point."""
    if isinstance(source, Mapping):
        data, src = dict(source), ""
        root = Path(base_dir) if base_dir is not None else Path.cwd()
        default_name = "sweep"
    else:
        p = Path(source)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SweepError(f"sweep spec {p} not found; give a TOML file") from None
        except IsADirectoryError:
            raise SweepError(f"sweep spec {p} is a directory; give a TOML file") from None
        except UnicodeDecodeError:
            raise SweepError(f"sweep spec {p} is not UTF-8 text; save it as UTF-8 TOML") from None
        except tomllib.TOMLDecodeError as exc:
            raise SweepError(f"sweep spec {p}: TOML syntax error: {exc}; fix the file") from None
        src = str(p)
        root = Path(base_dir) if base_dir is not None else p.resolve().parent
        default_name = p.stem
    try:
        return _from_dict(data, root, default_name, src, derive)
    except SweepError as exc:
        if src:
            raise SweepError(f"sweep spec {src}: {exc}") from None
        raise


def _from_dict(data: dict[str, Any], root: Path, default_name: str, src: str,
               derive: TableDeriver | None) -> SweepSpec:
    name, invalid, passes = _top_level(data, default_name)
    reference = _reference(data, root)
    base, grid, points = _hardware_tables(data, root)
    hardware, skipped = expand_hardware(base, points, grid, invalid)
    if all(hp.digest != reference.digest() for hp in hardware):
        hardware += (HardwarePoint({}, reference, reference.digest(),
                                   f"{reference.name or 'reference'} (reference)"),)
    workloads = _workloads(data, root, derive)
    return SweepSpec(name, base, hardware, workloads, tuple(passes), invalid, skipped,
                     tuple(grid), src, derive, reference)


def _reference(data: dict[str, Any], root: Path) -> Hardware:
    """The ``reference = "..."`` machine (a built-in name or a hardware TOML path, relative
    to the spec) every point's speedup is measured against; default :data:`REFERENCE`."""
    value = data.get("reference", REFERENCE)
    if not isinstance(value, str) or not value:
        raise SweepError(f"reference = {show(value)} must be a built-in hardware name "
                         "(dadiannao, bit-tactical, ...) or a hardware TOML path")
    try:
        return load_hardware(hardware_source(value, root, "reference"))
    except AccelsimError as exc:
        raise SweepError(f"reference = {show(value)}: {exc}") from None


def _top_level(data: dict[str, Any], default_name: str) -> tuple[str, str, list[str]]:
    """(name, invalid, passes) of the spec; unknown top-level keys refused."""
    for key in data:
        if key not in TOP_KEYS:
            raise SweepError(f"{key} is not a known top-level key{suggest(key, TOP_KEYS)}; "
                             f"known: {', '.join(TOP_KEYS)}")
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name:
        raise SweepError(f"name = {show(name)} must be a non-empty string")
    invalid = data.get("invalid", "skip")
    if invalid not in ("skip", "error"):
        raise SweepError(f"invalid = {show(invalid)} must be \"skip\" or \"error\"")
    raw_passes = data.get("passes", list(PASSES))
    if isinstance(raw_passes, str):
        raw_passes = [raw_passes]
    if not isinstance(raw_passes, list) or not raw_passes:
        raise SweepError(f"passes = {show(raw_passes)} must be a non-empty list of "
                         f"{', '.join(PASSES)}")
    passes = []
    for p in raw_passes:
        norm = p.replace("-", "_") if isinstance(p, str) else p
        if norm not in PASSES:
            raise SweepError(f"passes: {show(p)} is not a pass{suggest(str(p), PASSES)}; "
                             f"use {', '.join(PASSES)}")
        if norm not in passes:
            passes.append(norm)
    return name, invalid, passes


def _base_hardware(data: dict[str, Any], root: Path) -> Hardware:
    """The ``[base] hardware`` machine (default: the default hardware)."""
    base_table = data.get("base", {})
    if not isinstance(base_table, dict):
        raise SweepError("[base] must be a table: [base] hardware = \"bit-tactical\"")
    for key in base_table:
        if key != "hardware":
            raise SweepError(f"[base] {key} is not a known key; the only key is hardware "
                             "(a built-in name or a hardware TOML path)")
    try:
        base = load_hardware(hardware_source(base_table["hardware"], root)
                             if "hardware" in base_table else None)
    except AccelsimError as exc:
        raise SweepError(f"[base] hardware: {exc}") from None
    return base


def _hardware_tables(data: dict[str, Any], root: Path
                     ) -> tuple[Hardware, list[tuple[str, tuple[Any, ...]]], list[dict[str, Any]]]:
    """(base machine, [grid] axes, [[points]] + [zip] points) of the spec."""
    base = _base_hardware(data, root)
    known = hardware_keys(base)

    grid_table = data.get("grid", {})
    if not isinstance(grid_table, dict):
        raise SweepError("[grid] must be a table of dotted hardware keys")
    grid = [(k, values(f"[grid] {k}", v))
            for k, v in flatten_table("[grid]", grid_table, known, ranges=True).items()]

    points: list[dict[str, Any]] = []
    raw_points = data.get("points", [])
    if not isinstance(raw_points, list) or not all(isinstance(p, dict) for p in raw_points):
        raise SweepError("points must be an array of tables: [[points]] with dotted hardware "
                         "keys")
    for i, p in enumerate(raw_points, 1):
        where = f"[[points]] #{i}"
        flat = flatten_table(where, p, known, ranges=False)
        if not flat:
            raise SweepError(f"{where} is empty; give at least one hardware key")
        points.append({k: scalar(f"{where} {k}", v) for k, v in flat.items()})
    zip_table = data.get("zip", {})
    if not isinstance(zip_table, dict):
        raise SweepError("[zip] must be a table of equal-length lists")
    zipped = flatten_table("[zip]", zip_table, known, ranges=False)
    if zipped:
        lengths = {k: len(v) if isinstance(v, list) else -1 for k, v in zipped.items()}
        if any(n < 1 for n in lengths.values()) or len(set(lengths.values())) != 1:
            got = ", ".join(f"{k}: {n if n >= 0 else 'not a list'}" for k, n in lengths.items())
            raise SweepError(f"[zip] needs non-empty lists of equal length, got {got}")
        n = next(iter(lengths.values()))
        for i in range(n):
            points.append({k: scalar(f"[zip] {k}", v[i]) for k, v in zipped.items()})
    clash = {k for p in points for k in p} & {k for k, _ in grid}
    if clash:
        raise SweepError(f"{', '.join(sorted(clash))} is set in both [grid] and "
                         "[[points]]/[zip]; set each parameter in one place")
    return base, grid, points


def _workloads(data: dict[str, Any], root: Path, derive: TableDeriver | None
               ) -> tuple[Workload, ...]:
    """The ``[workloads]`` of the spec, each once (by digest), in order."""
    wl = data.get("workloads")
    if not isinstance(wl, dict) or not wl:
        raise SweepError("[workloads] is missing; give traces = [...] and/or "
                         "[[workloads.synthetic]] tables")
    for key in wl:
        if key not in WORKLOAD_TABLE_KEYS:
            raise SweepError(f"[workloads] {key} is not a known key"
                             f"{suggest(key, WORKLOAD_TABLE_KEYS)}; known keys: "
                             f"{', '.join(WORKLOAD_TABLE_KEYS)}")
    run_steps = wl.get("run_steps", "latest")
    if run_steps not in ("latest", "all"):
        raise SweepError(f"[workloads] run_steps = {show(run_steps)} must be \"latest\" or "
                         "\"all\"")
    workloads: list[Workload] = []
    if "traces" in wl:
        workloads += trace_workloads("[workloads] traces", wl["traces"], run_steps, root)
    synthetic = wl.get("synthetic", [])
    if isinstance(synthetic, dict):
        synthetic = [synthetic]
    if not isinstance(synthetic, list):
        raise SweepError("[workloads] synthetic must be an array of tables "
                         "([[workloads.synthetic]])")
    for i, table in enumerate(synthetic, 1):
        workloads += synthetic_workloads(f"[[workloads.synthetic]] #{i}", table, derive)
    unique = tuple({w.digest: w for w in reversed(workloads)}.values())[::-1]
    if not unique:
        raise SweepError("[workloads] holds no workload; give traces = [...] and/or "
                         "[[workloads.synthetic]] tables")
    return unique
