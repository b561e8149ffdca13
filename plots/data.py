"""Inputs of the figures and the report, normalised to plain rows (no torch, no matplotlib).

Simulation results come in many shapes; every figure reads one: a list of **row dicts**, one
per (workload, hardware point, layer, pass), with the keys of the sweep results store::

    trace, trace_digest, hardware_digest, hardware.name, array.tiles, array.rows, ...,
    frontend.kind, frontend.lookahead, frontend.lookaside, backend.kind, ... (every key of
    Hardware.to_dict(), flattened "section.key"), sparsity (when known), layer, pass,
    base_cycles, compute_cycles, ideal_cycles, stall_cycles, speedup, energy_pj,
    base_energy_pj

plus per-point totals rows with ``layer == "*total*"`` (:data:`TOTAL_LAYER`).  Sources:

* :class:`accelsim.simulate.Report` objects (``accelsim.api.simulate_*``);
* the JSON of ``Report.to_dict()`` (``accelsim simulate --json``), one object or a list;
* rows from the sweep store: dicts, a SQLite file (the table with ``layer``, ``pass`` and
  ``speedup`` columns), or a CSV file (the store's export, or ``accelsim simulate --csv``);
* a trace file or run directory, simulated on the given hardware.

Training run directories (``training/loop.py``: ``config.json``, ``metrics.jsonl``,
``summary.json``, ``traces/``) are read with :mod:`json` only.

GPU results (issue 7) are a JSON file ``{"layers": [{"layer": NAME, "pass": PASS,
"speedup": X}, ...]}`` (optional top-level ``"device"`` and ``"source"`` strings): measured
speedup of the sparse kernels over the dense ones, per layer and pass.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accelsim.errors import ResultsError
from accelsim.explore.records import flatten_hardware
from accelsim.measured import GpuResults, load_gpu_results

__all__ = [
    "COMPONENTS", "PASSES", "TOTAL_LAYER", "GpuResults", "PlotError", "RunData", "Totals",
    "architecture_label", "architecture_labels", "area_proxy", "filter_rows", "load_gpu_results", "load_rows",
    "load_run", "point_key", "point_totals", "rows_from_report", "sparsity_of",
    "workload_label",
]

#: The three passes of a training step, in plotting order.
PASSES: tuple[str, ...] = ("forward", "backward_input", "backward_weight")
#: ``layer`` value of a per-point totals row.
TOTAL_LAYER = "*total*"
#: The simulated passes each reported pass (and sum of passes) is made of.
COMPONENTS: dict[str, tuple[str, ...]] = {
    "forward": ("forward",), "backward_input": ("backward_input",),
    "backward_weight": ("backward_weight",), "backward": ("backward_input", "backward_weight"),
    "training_step": PASSES}
PASS_LABELS = {"forward": "forward", "backward_input": "backward-input",
               "backward_weight": "backward-weight", "backward": "backward",
               "training_step": "training step"}
NUMERIC_KEYS = ("base_cycles", "compute_cycles", "ideal_cycles", "stall_cycles", "speedup",
                "energy_pj", "base_energy_pj")
# hardware keys that say which design point a row belongs to (besides the digest)
_HW_PREFIXES = ("array.", "frontend.", "backend.", "memory.", "energy.")
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
                              **flatten_hardware(data["hardware"], "hardware.name")}
    sparsity = _sparsity_from_metadata(md, source)
    if sparsity is not None:
        common["sparsity"] = sparsity
    if isinstance(md, Mapping):
        for key in ("model", "dataset", "method"):
            if isinstance(md.get(key), str):
                common[key] = md[key]
    if label:
        common["label"] = label
    rows: list[dict[str, Any]] = []
    sums: dict[str, dict[str, float]] = {}
    for layer in data["layers"]:
        for pass_name, b in layer["passes"].items():
            rows.append({**common, "layer": layer["name"], "pass": pass_name,
                         **{k: b.get(k, 0) for k in NUMERIC_KEYS}})
            acc = sums.setdefault(pass_name, dict.fromkeys(NUMERIC_KEYS, 0.0))
            for k in NUMERIC_KEYS:
                if k != "speedup":
                    acc[k] += b.get(k, 0) or 0
    for pass_name, acc in sums.items():
        total = acc["compute_cycles"] + acc["stall_cycles"]
        acc["speedup"] = acc["base_cycles"] / total if total else 1.0
        rows.append({**common, "layer": TOTAL_LAYER, "pass": pass_name, **acc})
    return rows


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
    if out.get("layer") in ("TOTAL", "total"):      # Report.to_csv()'s totals
        out["layer"] = TOTAL_LAYER
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
    if not any(r.get("layer") == TOTAL_LAYER for r in rows) and not any(
            "hardware_digest" in r for r in rows):
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


def _rows_from_path(path: Path, hardware: Any) -> list[dict[str, Any]]:
    if not path.exists():
        raise PlotError(f"{path} does not exist; give a results store (.sqlite/.csv), a "
                        "report JSON, a trace or a run directory")
    if path.is_dir() or path.suffix == ".trace":
        from accelsim.api import simulate_trace

        return rows_from_report(simulate_trace(path, hardware))
    if path.suffix == ".csv":
        return _rows_from_csv(path)
    if path.suffix == ".json":
        return _rows_from_json(path)
    if _is_sqlite(path):
        return _rows_from_sqlite(path)
    raise PlotError(f"cannot tell what {path} holds; give a .sqlite/.db store, a .csv, a "
                    ".json report, a .trace file or a run directory")


def load_rows(results: Any, *, hardware: Any = None) -> list[dict[str, Any]]:
    """Normalise any results input to a non-empty list of row dicts (see the module doc).

    ``results`` may be a Report, a report dict, a row dict, a path (str or PathLike), a
    mapping ``{label: Report or [Report, ...]}`` (labels name the architectures), or a
    sequence mixing these.  Paths to traces and run directories are simulated on
    ``hardware`` (anything :func:`accelsim.load_hardware` takes)."""
    rows: list[dict[str, Any]] = []

    def add(item: Any, label: str | None = None) -> None:
        if isinstance(item, str | os.PathLike):
            found = _rows_from_path(Path(item), hardware)
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
    return rows


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


# ---- design points ----------------------------------------------------------------------------
def point_key(row: Mapping[str, Any]) -> tuple[str, str]:
    """``(workload, hardware)`` identity of the design point a row belongs to."""
    hw = row.get("hardware_digest") or "|".join(
        f"{k}={row[k]}" for k in sorted(row) if k.startswith(_HW_PREFIXES))
    return str(row.get("trace_digest") or row.get("trace") or ""), str(hw)


def workload_label(row: Mapping[str, Any]) -> str:
    """Short name of a row's workload: ``model/dataset method``, else the trace's file name
    with its run directory (``swat-run/step-00000040.trace``)."""
    if row.get("model"):
        method = str(row.get("method") or "")
        s = sparsity_of(row)
        if method and s is not None:
            method += f"@{s:g}"
        step = f"step {row['step']}" if row.get("step") not in (None, "") else ""
        return " ".join(x for x in (f"{row['model']}/{row.get('dataset', '?')}", method, step)
                        if x)
    trace = str(row.get("trace") or row.get("trace_digest") or "workload")
    if trace.startswith("synthetic:"):
        return trace[len("synthetic:"):]
    parts = [p for p in Path(trace).parts[:-1] if p not in ("traces", "/")]
    return "/".join([*parts[-1:], Path(trace).name]) or trace


def architecture_label(row: Mapping[str, Any]) -> str:
    """Name of a row's architecture: its ``label``, else its hardware name, else built from
    the parameters (``T<2,5> bit-parallel``, ``dense``, plus a non-default array kind)."""
    for key in ("label", "hardware.name", "hardware_name", "name"):
        if row.get(key):
            return str(row[key])
    if row.get("frontend.kind") == "dense":
        front = "dense"
    elif "frontend.lookahead" in row:
        front = (f"{row.get('frontend.shape', 'T')}<{row.get('frontend.lookahead')},"
                 f"{row.get('frontend.lookaside')}>")
    else:
        front = ""
    parts = [str(row[k]) for k in ("array.kind",) if row.get(k) not in (None, "", "bit-tactical")]
    parts += [front] if front else []
    parts += [str(row["backend.kind"])] if row.get("backend.kind") else []
    return " ".join(parts) or str(row.get("hardware_digest", "?"))[:12]


def architecture_labels(rows: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Hardware point (``point_key(row)[1]``) -> architecture label, unique per point
    unless the rows carry an explicit ``label``: points that share a name (a sweep keeps
    its base hardware's name) are told apart by the parameters that differ between them."""
    first: dict[str, Mapping[str, Any]] = {}
    for r in rows:
        first.setdefault(point_key(r)[1], r)
    labels = {hw: architecture_label(r) for hw, r in first.items()}
    by_label: dict[str, list[str]] = {}
    for hw, label in labels.items():
        by_label.setdefault(label, []).append(hw)
    for hws in by_label.values():
        if len(hws) < 2 or first[hws[0]].get("label"):
            continue
        keys = sorted({k for hw in hws for k in first[hw] if k.startswith(_HW_PREFIXES)})
        varying = [k for k in keys if len({str(first[hw].get(k)) for hw in hws}) > 1]
        for hw in hws:
            r = first[hw]
            built = architecture_label({k: v for k, v in r.items() if k not in (
                "label", "hardware.name", "hardware_name", "name")})
            extra = [f"{k.split('.', 1)[1]}={r.get(k)}" for k in varying
                     if k not in ("frontend.lookahead", "frontend.lookaside", "frontend.shape",
                                  "frontend.kind", "backend.kind", "array.kind")]
            labels[hw] = built + (f" ({', '.join(extra)})" if extra else "")
    return labels


def sparsity_of(row: Mapping[str, Any]) -> float | None:
    """Weight sparsity of a row's workload (a fraction), or None when it is not recorded:
    the ``sparsity``/``weight_sparsity``/``workload.sparsity`` column, else the ``@S``
    suffix of a synthetic source such as ``synthetic:resnet50/imagenet/swat-u@0.9``."""
    for key in ("sparsity", "weight_sparsity", "workload.sparsity", "method_params.sparsity"):
        v = row.get(key)
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
            return float(v)
    m = re.search(r"@([0-9]*\.?[0-9]+)(?:/|$)", str(row.get("trace", "")))
    return float(m.group(1)) if m else None


@dataclass(frozen=True)
class Totals:
    """Summed cycles and energy of one design point over one (combination of) pass(es)."""

    base_cycles: float
    compute_cycles: float
    stall_cycles: float
    energy_pj: float
    base_energy_pj: float

    @property
    def speedup(self) -> float:
        """base / (compute + stalls), 1.0 when nothing ran."""
        total = self.compute_cycles + self.stall_cycles
        return self.base_cycles / total if total else 1.0


def point_totals(rows: Iterable[Mapping[str, Any]], pass_name: str = "training_step") -> Totals:
    """Totals of ``rows`` over ``pass_name`` (a pass, ``backward`` or ``training_step``),
    summed over the design points they hold: per point, each component pass from its
    ``*total*`` row when present, else summed over its layer rows."""
    if pass_name not in COMPONENTS:
        raise PlotError(f"unknown pass {pass_name!r}; choose one of {', '.join(COMPONENTS)}")
    keys = ("base_cycles", "compute_cycles", "stall_cycles", "energy_pj", "base_energy_pj")
    acc = dict.fromkeys(keys, 0.0)
    points: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for r in rows:
        points.setdefault(point_key(r), []).append(r)
    for point_rows in points.values():
        for comp in COMPONENTS[pass_name]:
            mine = [r for r in point_rows if r.get("pass") == comp]
            totals = [r for r in mine if r.get("layer") == TOTAL_LAYER]
            for r in totals or mine:
                for k in keys:
                    acc[k] += float(r.get(k) or 0)
    return Totals(**acc)


def area_proxy(row: Mapping[str, Any]) -> float:
    """Relative area of a design point, in MAC-lane units, when no ``area_mm2`` is given:

    ``PEs x lanes x (1 + 0.05 x (lookahead + lookaside))`` for a TCL front end (each
    lookahead/lookaside connection adds a multiplexer input per lane, costed at 5% of a
    lane's multiplier), ``PEs x lanes`` for a dense one; PEs = tiles x rows x columns.  The
    back end and buffers are not costed.  A relative figure: only ratios between points
    matter.  A row's ``area_mm2`` column, when present, is used instead (see
    :func:`plots.figures.plot_pareto`)."""
    pes = 1
    for key, default in (("array.tiles", 16), ("array.rows", 16), ("array.columns", 1)):
        pes *= int(row.get(key, default) or default)
    lanes = int(row.get("array.lanes", 16) or 16)
    mux = 0.0
    if row.get("frontend.kind", "tcl") != "dense":
        mux = 0.05 * (int(row.get("frontend.lookahead", 0) or 0)
                      + int(row.get("frontend.lookaside", 0) or 0))
    return pes * lanes * (1.0 + mux)








# ---- training runs ----------------------------------------------------------------------------
@dataclass(frozen=True)
class RunData:
    """A training run directory read with :mod:`json`: config, per-epoch metrics, summary,
    trace files."""

    path: Path
    config: dict[str, Any]
    metrics: list[dict[str, Any]]
    summary: dict[str, Any] = field(default_factory=dict)
    traces: tuple[Path, ...] = ()


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise PlotError(f"{path} is not valid JSON ({exc.msg}, line {exc.lineno})") from None


def load_run(run_dir: str | os.PathLike[str], *, need_metrics: bool = True) -> RunData:
    """Read a run directory (``config.json``, ``metrics.jsonl``, ``summary.json``,
    ``traces/*.trace``).  With ``need_metrics`` a missing or empty ``metrics.jsonl`` is an
    error."""
    d = Path(run_dir)
    if not d.is_dir():
        raise PlotError(f"run directory {d} does not exist; give the --out of `accelsim train`")
    config = _read_json(d / "config.json") if (d / "config.json").is_file() else {}
    summary = _read_json(d / "summary.json") if (d / "summary.json").is_file() else {}
    metrics: list[dict[str, Any]] = []
    mpath = d / "metrics.jsonl"
    if mpath.is_file():
        for n, line in enumerate(mpath.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise PlotError(f"{mpath} line {n} is not valid JSON ({exc.msg})") from None
            if not isinstance(rec, dict):
                raise PlotError(f"{mpath} line {n} is not a JSON object")
            metrics.append(rec)
    if need_metrics and not metrics:
        raise PlotError(f"run directory {d} has no epoch metrics ({mpath.name} is "
                        f"{'empty' if mpath.is_file() else 'missing'}); train at least one epoch")
    tdir = d / "traces"
    traces = tuple(sorted(tdir.glob("*.trace"))) if tdir.is_dir() else ()
    traces = traces or tuple(sorted(d.glob("*.trace")))
    return RunData(d, config, metrics, summary, traces)
