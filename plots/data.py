"""Inputs of the figures and the report, normalised to plain rows (no torch, no matplotlib).

Simulation results come in many shapes; every figure reads one: a list of **row dicts**, one
per (workload, hardware point, layer, pass), with the keys of the sweep results store::

    trace, trace_digest, hardware_digest, label (a sweep point's name), hardware.name,
    array.tiles, array.rows, ..., frontend.kind, frontend.lookahead, frontend.lookaside,
    backend.kind, ... (every key of Hardware.to_dict(), flattened "section.key"), sparsity
    (when known), layer, layer_index, pass, base_cycles, compute_cycles, ideal_cycles,
    stall_cycles, effectual_macs, time_s, speedup_vs_own_dense, energy_pj and its parts
    energy_<compute|frontend|buffers|dram>_pj, base_energy_pj, effectual_gops, gops_per_w,
    gops_per_mm2, area_mm2 and area_<part>_mm2, and against the reference machine (when the
    results have one): reference, reference_time_s, reference_energy_pj, speedup,
    energy_efficiency

plus per-point totals rows with ``layer == "*total*"`` (:data:`accelsim.simulate.TOTAL`).  Sources:

* :class:`accelsim.simulate.Report` objects (``accelsim.api.simulate_*``);
* the JSON of ``Report.to_dict()`` (``accelsim simulate --json``), one object or a list;
* rows from the sweep store: dicts, a SQLite file (the table with ``layer``, ``pass`` and
  ``speedup`` columns), or a CSV file (the store's export, or ``accelsim simulate --csv``);
* a trace file or run directory, simulated on the given hardware.

Training run directories (layout :mod:`accelsim.rundir`) are read by :mod:`plots.runs`;
design points (labels, totals) are :mod:`plots.points`.

GPU results (issue 7) are a JSON file ``{"layers": [{"layer": NAME, "pass": PASS,
"speedup": X}, ...]}`` (optional top-level ``"device"`` and ``"source"`` strings): measured
speedup of the sparse kernels over the dense ones, per layer and pass.
"""

from __future__ import annotations

import csv
import json
import os
import re
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from accelsim.api import simulate_trace
from accelsim.errors import ResultsError
from accelsim.explore.records import AREA_COLUMNS, ENERGY_COLUMNS, flatten_hardware
from accelsim.measured import GpuResults, load_gpu_results
from accelsim.simulate import TOTAL
from accelsim.yardstick import DEFAULT_REFERENCE, reference_hardware

__all__ = [
    "COMPONENTS", "PASSES", "TOTAL", "GpuResults", "PlotError",
    "filter_rows", "load_gpu_results", "load_rows", "rows_from_report",
]

#: The three passes of a training step, in plotting order.
PASSES: tuple[str, ...] = ("forward", "backward_input", "backward_weight")
#: The simulated passes each reported pass (and sum of passes) is made of.
COMPONENTS: dict[str, tuple[str, ...]] = {
    "forward": ("forward",), "backward_input": ("backward_input",),
    "backward_weight": ("backward_weight",), "backward": ("backward_input", "backward_weight"),
    "training_step": PASSES}
PASS_LABELS = {"forward": "forward", "backward_input": "backward-input",
               "backward_weight": "backward-weight", "backward": "backward",
               "training_step": "training step"}
NUMERIC_KEYS = ("base_cycles", "compute_cycles", "ideal_cycles", "stall_cycles", "speedup",
                "effectual_macs", "energy_pj", *ENERGY_COLUMNS, "base_energy_pj", "time_s",
                "speedup_vs_own_dense", "reference_time_s", "reference_energy_pj",
                "energy_efficiency", "effectual_gops", "gops_per_w", "gops_per_mm2",
                *AREA_COLUMNS, "layer_index")
#: figures of a report's pass summed into its totals rows (the ratios are recomputed)
SUMMED_KEYS = ("base_cycles", "compute_cycles", "ideal_cycles", "stall_cycles",
               "effectual_macs", "energy_pj", *ENERGY_COLUMNS, "base_energy_pj", "time_s",
               "reference_time_s", "reference_energy_pj")
#: per-pass figures of a report that are not summed (the machine's area)
MACHINE_KEYS = AREA_COLUMNS
# hardware keys that say which design point a row belongs to (besides the digest)
HW_PREFIXES = ("array.", "frontend.", "backend.", "memory.", "energy.")
SQLITE_MAGIC = b"SQLite format 3\x00"


PlotError = ResultsError
"""Missing or unreadable input, empty data, unknown figure kind: one line, with the fix (the
core's :class:`accelsim.errors.ResultsError`, which its GPU-results loader raises too)."""


# ---- rows -------------------------------------------------------------------------------------
def _sparsity_from_metadata(md: Mapping[str, Any], source: str) -> float | None:
    candidates: list[Any] = []
    params = md.get("method_params") or {}
    candidates += [params.get("sparsity"), params.get("weight_sparsity")]
    for holder in (md, md.get("extra") or {}):
        syn = holder.get("synthetic") if isinstance(holder, Mapping) else None
        if isinstance(syn, Mapping):
            candidates.append(syn.get("weight_sparsity"))
    for c in candidates:
        if isinstance(c, int | float) and not isinstance(c, bool):
            return float(c)
    m = re.search(r"@([0-9]*\.?[0-9]+)(?:/|$)", source or "")
    return float(m.group(1)) if m else None


def rows_from_report(report: Any, *, label: str | None = None) -> list[dict[str, Any]]:
    """Rows of one report: a :class:`accelsim.simulate.Report` or its ``to_dict()``.

    One row per (layer, pass) and one ``*total*`` row per simulated pass (forward,
    backward_input, backward_weight).  ``label`` (optional) names the architecture in the
    figures (``label`` key); the hardware digest and flattened parameters are always set."""
    data = report.to_dict() if hasattr(report, "to_dict") else report
    if not isinstance(data, Mapping) or "layers" not in data or "hardware" not in data:
        raise PlotError("a simulation report must be an accelsim Report or the JSON of "
                        "`accelsim simulate --json` (keys: layers, hardware, totals)")
    source = str(data.get("source", ""))
    md = data.get("metadata") or {}
    common: dict[str, Any] = {"trace": source, "trace_digest": data.get("trace_digest", source),
                              "hardware_digest": data.get("hardware_digest", ""),
                              **flatten_hardware(data["hardware"], "hardware.name"),
                              **_area(data)}
    sparsity = _sparsity_from_metadata(md, source)
    if sparsity is not None:
        common["sparsity"] = sparsity
    if isinstance(md, Mapping):
        for key in ("model", "dataset", "method"):
            if isinstance(md.get(key), str):
                common[key] = md[key]
    if label:
        common["label"] = label
    clock = float((data["hardware"].get("array") or {}).get("clock_ghz") or 0) or None
    rows: list[dict[str, Any]] = []
    sums: dict[str, dict[str, Any]] = {}
    for index, layer in enumerate(data["layers"]):
        for pass_name, b in layer["passes"].items():
            row = _pass_row(b, clock)
            rows.append({**common, "layer": layer["layer"], "layer_index": index,
                         "pass": pass_name, **row})
            acc = sums.setdefault(pass_name, {})
            for k in SUMMED_KEYS:
                v = row.get(k)
                acc[k] = None if v is None or (k in acc and acc[k] is None) else acc.get(k, 0) + v
    totals = data.get("totals") if isinstance(data.get("totals"), Mapping) else {}
    for pass_name, acc in sums.items():   # the report's own totals when it has them
        total = (_pass_row(totals[pass_name], clock) if isinstance(totals.get(pass_name), Mapping)
                 else _ratios(acc, rows[-1].get("reference")))
        rows.append({**common, "layer": TOTAL, "layer_index": -1, "pass": pass_name, **total})
    return rows


def _area(data: Mapping[str, Any]) -> dict[str, Any]:
    """The machine's area columns of a report (``area_mm2`` and its parts), when it has them."""
    parts = data.get("area_breakdown_mm2")
    out = {"area_mm2": data["area_mm2"]} if isinstance(data.get("area_mm2"), int | float) else {}
    if isinstance(parts, Mapping):
        out.update({f"area_{k}_mm2": v for k, v in parts.items()})
    return out


def _pass_row(b: Mapping[str, Any], clock: float | None) -> dict[str, Any]:
    """The figures of one pass of a report: its numbers, ``time_s`` (from the clock when the
    report has none), ``speedup_vs_own_dense`` (a report without a reference machine calls
    it ``speedup``), and the reference figures when the report has them."""
    row = {k: b.get(k) for k in NUMERIC_KEYS if k != "layer_index" and k not in MACHINE_KEYS}
    parts = b.get("energy_breakdown_pj")
    if isinstance(parts, Mapping):
        row.update({f"energy_{k}_pj": v for k, v in parts.items()})
    for k in ("base_cycles", "compute_cycles", "ideal_cycles", "stall_cycles", "energy_pj",
              "base_energy_pj"):
        row[k] = row[k] or 0
    if row["time_s"] is None and clock:
        row["time_s"] = (row["compute_cycles"] + row["stall_cycles"]) / (clock * 1e9)
    if "reference_time_s" not in b:      # speedup over the machine's own dense twin
        row["speedup_vs_own_dense"] = b.get("speedup_vs_own_dense", b.get("speedup"))
        row["speedup"] = None
        row["energy_efficiency"] = None
    if isinstance(b.get("reference"), str):
        row["reference"] = b["reference"]
    return row


def _ratios(acc: dict[str, Any], reference: Any) -> dict[str, Any]:
    """Totals of a pass: the sums, with the speedups and energy efficiency recomputed."""
    out = dict(acc)
    cycles = acc["compute_cycles"] + acc["stall_cycles"]
    out["speedup_vs_own_dense"] = acc["base_cycles"] / cycles if cycles else 1.0
    t, rt = acc.get("time_s"), acc.get("reference_time_s")
    out["speedup"] = rt / t if rt is not None and t else None
    re_, e = acc.get("reference_energy_pj"), acc.get("energy_pj")
    out["energy_efficiency"] = re_ / e if re_ is not None and e else None
    if reference is not None:
        out["reference"] = reference
    return out


def _number(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        pass
    return {"true": True, "false": False, "True": True, "False": False}.get(text, text)


def _normalise_row(row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for k in NUMERIC_KEYS:
        if isinstance(out.get(k), str):
            out[k] = _number(out[k])
    return out


def _rows_from_csv(path: Path) -> list[dict[str, Any]]:
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"layer", "pass"} <= set(reader.fieldnames):
            raise PlotError(f"CSV file {path} has no 'layer' and 'pass' columns; give the "
                            "sweep store's CSV export or `accelsim simulate --csv` output")
        rows = [{k: _number(v) if isinstance(v, str) else v for k, v in r.items()}
                for r in reader]
    if not any("hardware_digest" in r for r in rows):
        # `accelsim simulate --csv`: one report, label it by the file name
        for r in rows:
            r.setdefault("trace", path.stem)
            r.setdefault("hardware_digest", path.stem)
    return [_normalise_row(r) for r in rows]


def _rows_from_sqlite(path: Path) -> list[dict[str, Any]]:
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise PlotError(f"cannot open SQLite store {path}: {exc}") from None
    try:
        con.row_factory = sqlite3.Row
        tables = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name")]
        found = []
        for table in tables:
            cols = {r[1] for r in con.execute(f'PRAGMA table_info("{table}")')}
            if {"layer", "pass", "speedup"} <= cols:
                found.append((table != "flat", -len(cols), table))
        if found:   # the store's "flat" view (results + workloads + hardware) first
            table = min(found)[2]
            return [_normalise_row(dict(r)) for r in con.execute(f'SELECT * FROM "{table}"')]
    except sqlite3.Error as exc:
        raise PlotError(f"cannot read SQLite store {path}: {exc}") from None
    finally:
        con.close()
    raise PlotError(f"SQLite file {path} has no results table (a table with layer, pass and "
                    f"speedup columns; tables: {', '.join(tables) or 'none'})")


def _rows_from_json(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise PlotError(f"{path} is not valid JSON ({exc.msg}, line {exc.lineno})") from None
    items = data if isinstance(data, list) else [data]
    rows: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, Mapping) and "pass" in item and "layer" in item:
            rows.append(_normalise_row(item))
        elif isinstance(item, Mapping) and "layers" in item and "hardware" in item:
            rows += rows_from_report(item)
        else:
            raise PlotError(f"{path} is not a simulation report (the JSON of `accelsim "
                            "simulate --json`, keys layers/hardware/totals) nor a list of rows")
    return rows


def _is_sqlite(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(16) == SQLITE_MAGIC


def _rows_from_path(path: Path, hardware: Any, reference: Any) -> list[dict[str, Any]]:
    if not path.exists():
        raise PlotError(f"{path} does not exist; give a results store (.sqlite/.csv), a "
                        "report JSON, a trace or a run directory")
    if path.is_dir() or path.suffix == ".trace":
        return rows_from_report(simulate_trace(path, hardware, reference=reference
                                               if reference is not None else DEFAULT_REFERENCE))
    if path.suffix == ".csv":
        return _rows_from_csv(path)
    if path.suffix == ".json":
        return _rows_from_json(path)
    if _is_sqlite(path):
        return _rows_from_sqlite(path)
    raise PlotError(f"cannot tell what {path} holds; give a .sqlite/.db store, a .csv, a "
                    ".json report, a .trace file or a run directory")


def load_rows(results: Any, *, hardware: Any = None, reference: Any = None
              ) -> list[dict[str, Any]]:
    """Normalise any results input to a non-empty list of row dicts (see the module doc).

    ``results`` may be a Report, a report dict, a row dict, a path (str or PathLike), a
    mapping ``{label: Report or [Report, ...]}`` (labels name the architectures), or a
    sequence mixing these.  Paths to traces and run directories are simulated on
    ``hardware`` (anything :func:`accelsim.load_hardware` takes) against ``reference``
    (default ``dadiannao``).  A ``reference`` given for results that were measured against
    another machine (a sweep store, a report) is an error: they cannot be re-based here."""
    rows: list[dict[str, Any]] = []

    def add(item: Any, label: str | None = None) -> None:
        if isinstance(item, str | os.PathLike):
            found = _rows_from_path(Path(item), hardware, reference)
            rows.extend({**r, "label": label} if label else r for r in found)
        elif hasattr(item, "totals") and hasattr(item, "to_dict"):
            rows.extend(rows_from_report(item, label=label))
        elif isinstance(item, Mapping) and "layer" in item and "pass" in item:
            rows.append(_normalise_row({**item, **({"label": label} if label else {})}))
        elif isinstance(item, Mapping) and "layers" in item and "hardware" in item:
            rows.extend(rows_from_report(item, label=label))
        elif isinstance(item, Mapping) and label is None:
            for key, value in item.items():
                add(value, str(key))
        elif isinstance(item, Iterable) and not isinstance(item, str | bytes | Mapping):
            for x in item:
                add(x, label)
        else:
            raise PlotError(f"cannot plot a {type(item).__name__}; give Reports, row dicts, "
                            "or a path to a results store, report JSON, trace or run directory")

    add(results)
    if not rows:
        raise PlotError("no simulation results to plot (the input holds no rows)")
    if reference is not None:
        _check_reference(rows, reference)
    return rows


def _check_reference(rows: list[dict[str, Any]], reference: Any) -> None:
    """Every row measured against ``reference`` (rows read from files cannot be re-based)."""
    name = reference_hardware(reference).name
    other = sorted({str(r.get("reference") or "none") for r in rows} - {name})
    if other:
        raise PlotError(f"the results are measured against {', '.join(other)}, not the "
                        f"--reference {name}; --reference applies to traces and run "
                        "directories simulated here (re-run a sweep with reference = ... "
                        "to change a store's)")


def filter_rows(rows: Sequence[Mapping[str, Any]],
                where: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Rows whose every ``where`` key equals the given value (compared as text, so
    ``{"frontend.lookahead": "2"}`` from the command line matches the integer 2; a
    ``*digest`` key also matches a prefix of 6 or more characters)."""
    if not where:
        return [dict(r) for r in rows]
    missing = [k for k in where if not any(k in r for r in rows)]
    if missing:
        keys = sorted({k for r in rows for k in r})
        raise PlotError(f"no column {', '.join(missing)} in the results; columns: "
                        f"{', '.join(keys)}")
    def match(r: Mapping[str, Any], k: str, v: Any) -> bool:
        got = str(r.get(k))
        return got == str(v) or (k.endswith("digest") and len(str(v)) >= 6
                                 and got.startswith(str(v)))

    out = [dict(r) for r in rows if all(match(r, k, v) for k, v in where.items())]
    if not out:
        raise PlotError(f"no results match {', '.join(f'{k}={v}' for k, v in where.items())}")
    return out
