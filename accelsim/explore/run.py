"""Architecture sweeps: a TOML spec of hardware parameters x workloads x passes, run on local
worker processes or an existing Dask cluster, results committed point by point into a
results store (:mod:`accelsim.explore.store`).

A spec is loaded one way only::

    file / dict  ->  validate  ->  frozen SweepSpec           (load_sweep)

and run with :func:`run_sweep`.  Every bad key or value raises a one-line
:class:`SweepError` naming the file, the table and key, the bad value and the fix.

Spec format (paths are relative to the spec file)::

    name = "lookahead-lookaside"          # optional, default: the file name
    passes = ["forward", "backward_input", "backward_weight"]   # optional, default all
    invalid = "skip"                      # or "error" (see below)

    [base]
    hardware = "bit-tactical"             # built-in name or a hardware TOML path

    [grid]                                # crossed with each other (cross product)
    "frontend.lookahead" = [0, 1, 2, 4]   # a list of values
    "frontend.lookaside" = {start = 0, stop = 7, step = 1}   # stop inclusive
    "array.tiles" = {start = 4, stop = 32, factor = 2}       # geometric: 4, 8, 16, 32
    "backend.kind" = "bit-parallel"       # a single value fixes the parameter
    # [grid.memory] bandwidth_gb_per_s = [12.8, 25.6]  (sub-tables work too)

    [[points]]                            # optional explicit points, crossed with [grid]
    "backend.kind" = "tcle"
    "array.columns" = 16

    [zip]                                 # optional: equal-length lists taken together
    "array.rows" = [16, 8]                # -> points {rows 16, columns 1}, {rows 8, columns 2}
    "array.columns" = [1, 2]

    [workloads]
    traces = ["runs/swat-u", "traces/*.trace"]   # files, run directories, globs
    run_steps = "latest"                  # a run directory gives its latest trace, or "all"

    [[workloads.synthetic]]               # seeded synthetic traces, never written to disk
    model = "resnet20"
    dataset = "cifar10"
    method = "swat-u"
    sparsity = [0.8, 0.9]                 # any key may be a list: crossed
    batch = 1
    seed = 0

Hardware parameters are the dotted keys :meth:`accelsim.spec.hardware.Hardware.replace` accepts
(``array.tiles``, ``array.rows``, ``array.columns``, ``array.lanes``, ``array.pe_bits``,
``frontend.kind``, ``frontend.shape``, ``frontend.lookahead``, ``frontend.lookaside``,
``backend.kind``, ``memory.kind``, ``memory.bandwidth_gb_per_s``,
``memory.weight_buffer_bytes`` ... and ``name``).  The hardware points are
``([[points]] + [zip] points, or one empty point) x the [grid] cross product``, each applied
to the base with ``Hardware.replace``; points giving the same hardware digest run once.

Invalid combinations: a value that is invalid on its own, or in every combination it takes
part in (``frontend.lookahead = -1``), is always an error.  A combination that is invalid
while each of its values is valid elsewhere (``frontend.lookaside = 8`` with
``array.lanes = 8``) is skipped with its reason under ``invalid = "skip"`` (the default:
:attr:`SweepSpec.skipped`, printed by the CLI and kept in the store's ``skipped`` table), or
an error under ``invalid = "error"``.

Execution: each point (workload, hardware) is one task.  Local worker processes by default
(:class:`concurrent.futures.ProcessPoolExecutor`, spawn, one per core; ``workers=1`` runs in
this process); with ``scheduler`` (an address such as ``tcp://host:8786``, or a
``dask.distributed.Client``) the tasks go to that Dask cluster (its workers need accelsim
installed).  Results are committed as they finish; a point already in the store (all its
passes) is skipped, so an interrupted sweep resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import difflib
import glob
import hashlib
import itertools
import json
import math
import os
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accelsim.arrays.bittactical import ZERO
from accelsim.errors import AccelsimError, ConfigError
from accelsim.explore.store import TOTAL, PointRecord, open_store
from accelsim.spec.hardware import Hardware, load_hardware
from accelsim.trace.schema import PASS_ROLES, PASSES

TOP_KEYS = ("name", "passes", "invalid", "base", "grid", "points", "zip", "workloads")
WORKLOAD_TABLE_KEYS = ("traces", "run_steps", "synthetic")
SYNTHETIC_KEYS = ("model", "dataset", "method", "sparsity", "batch", "seed")
SYNTHETIC_EXTRA = ("activation_sparsity", "activation_clustering", "weight_structure",
                   "grad_sparsity", "input_size", "distribution", "first_layer_dense",
                   "saved_activation", "layer_sparsity")
SYNTHETIC_DEFAULTS = {"dataset": "cifar10", "method": "swat-u", "sparsity": 0.9, "batch": 1,
                      "seed": 0}
MAX_AXIS = 10_000
MAX_HARDWARE_POINTS = 1_000_000
#: workloads whose operands take more bytes than this are re-read for every point
CACHE_BYTES = 1 << 30


class SweepError(ConfigError):
    """A sweep spec with an unknown key, a bad value, or no valid point; or a failed sweep."""


# ---- spec -----------------------------------------------------------------------------
@dataclass(frozen=True)
class HardwarePoint:
    """One hardware point: the parameters set on the base (dotted keys) and the result."""

    params: dict[str, Any]
    hardware: Hardware
    digest: str


@dataclass(frozen=True)
class SkippedPoint:
    """A hardware combination left out as invalid, with the validation error."""

    params: dict[str, Any]
    reason: str


@dataclass(frozen=True)
class Workload:
    """A trace file (``kind = "trace"``, ``path``) or a synthetic trace (``kind =
    "synthetic"``, ``synthetic`` = the :class:`accelsim.trace.synthetic.SyntheticSpec` fields).
    ``digest``: blake2b-128 of the file's bytes, or ``"synthetic-"`` + blake2b-128 of the
    spec's canonical JSON.  ``info``: the store's workload columns (trace, workload_kind,
    model, dataset, method, sparsity, batch, step, json)."""

    kind: str
    label: str
    digest: str
    path: str | None = None
    synthetic: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep: the hardware points (after skipping invalid combinations), the
    workloads and the passes.  Build it with :func:`load_sweep`."""

    name: str
    base: Hardware
    hardware: tuple[HardwarePoint, ...]
    workloads: tuple[Workload, ...]
    passes: tuple[str, ...] = PASSES
    invalid: str = "skip"
    skipped: tuple[SkippedPoint, ...] = ()
    grid: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    source: str = ""

    @property
    def size(self) -> int:
        """Number of points: workloads x hardware points."""
        return len(self.workloads) * len(self.hardware)


def _fail(where: str, message: str) -> SweepError:
    return SweepError(f"{where}: {message}" if where else message)


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def _suggest(key: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _expand_range(where: str, table: Mapping[str, Any]) -> tuple[Any, ...]:
    """``{start, stop, step}`` (arithmetic, stop inclusive) or ``{start, stop, factor}``
    (geometric, stop inclusive)."""
    keys = set(table)
    if keys not in ({"start", "stop", "step"}, {"start", "stop", "factor"}, {"start", "stop"}):
        raise _fail(where, f"a range is {{start, stop, step}} or {{start, stop, factor}} (stop "
                           f"inclusive), not {{{', '.join(sorted(keys))}}}; or give a list")
    for k, v in table.items():
        if not _is_number(v) or not math.isfinite(v):
            raise _fail(where, f"range {k} = {_show(v)} must be a finite number")
    start, stop = table["start"], table["stop"]
    if stop < start:
        raise _fail(where, f"range stop = {stop!r} is below start = {start!r}; use stop >= start")
    integral = all(isinstance(v, int) for v in table.values())
    values: list[Any] = []
    if "factor" in table:
        factor = table["factor"]
        if factor <= 1 or start <= 0:
            raise _fail(where, f"geometric range needs start > 0 and factor > 1, not start = "
                               f"{start!r}, factor = {factor!r}")
        v = start
        while v <= stop * (1 + 1e-12) and len(values) <= MAX_AXIS:
            values.append(v if integral else float(f"{v:.12g}"))
            v = v * factor
    else:
        step = table.get("step", 1)
        if step <= 0:
            raise _fail(where, f"range step = {step!r} must be > 0")
        n = math.floor((stop - start) / step * (1 + 1e-12) + 1e-9) + 1
        if n > MAX_AXIS:
            raise _fail(where, f"range gives {n} values, more than {MAX_AXIS}; use a larger step")
        values = [start + i * step if integral else float(f"{start + i * step:.12g}")
                  for i in range(n)]
    if len(values) > MAX_AXIS:
        raise _fail(where, f"range gives more than {MAX_AXIS} values; use a larger factor")
    return tuple(values)


def _scalar(where: str, v: Any) -> Any:
    if isinstance(v, bool | int | float | str):
        return v
    raise _fail(where, f"{_show(v)} must be a number, string or boolean, not a "
                       f"{type(v).__name__}")


def _values(where: str, value: Any) -> tuple[Any, ...]:
    """A grid axis: list, range table or single value."""
    if isinstance(value, dict):
        return _expand_range(where, value)
    if isinstance(value, list):
        if not value:
            raise _fail(where, "empty list; give at least one value")
        out = tuple(_scalar(where, v) for v in value)
        return tuple(dict.fromkeys(out))  # dedupe, keep order (1 and 1.0 stay one)
    return (_scalar(where, value),)


def _hardware_keys(base: Hardware) -> dict[str, None]:
    keys: dict[str, None] = {"name": None}
    for section, table in base.to_dict().items():
        if isinstance(table, dict):
            for key in table:
                keys[f"{section}.{key}"] = None
    return keys


def _check_key(where: str, key: str, known: Mapping[str, None]) -> None:
    if key not in known:
        raise _fail(where, f"{key} is not a hardware parameter{_suggest(key, known)}; use a "
                           "dotted key such as \"frontend.lookahead\" or \"array.tiles\" (the "
                           "[section] key of the hardware TOML)")


def _flatten_table(where: str, table: Mapping[str, Any], known: Mapping[str, None],
                   *, ranges: bool) -> dict[str, Any]:
    """``{"frontend.lookahead": v}`` and ``{"frontend": {"lookahead": v}}`` -> dotted keys."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        if "." not in key and key != "name" and isinstance(value, dict) and not (
                ranges and set(value) <= {"start", "stop", "step", "factor"}):
            for sub, v in value.items():
                dotted = f"{key}.{sub}"
                _check_key(where, dotted, known)
                out[dotted] = v
            continue
        _check_key(where, key, known)
        out[key] = value
    return out


def _hardware_source(value: Any, base_dir: Path) -> Any:
    if not isinstance(value, str) or not value:
        raise _fail("[base] hardware", f"{_show(value)} must be a built-in name (bit-tactical, "
                                       "dadiannao, ...) or a hardware TOML path")
    p = Path(value).expanduser()
    candidate = p if p.is_absolute() else base_dir / p
    return candidate if candidate.exists() else value


def _point_label(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} = {_show(v)}" for k, v in params.items()) or "(base)"


def _expand_hardware(base: Hardware, points: list[dict[str, Any]],
                     grid: list[tuple[str, tuple[Any, ...]]], invalid: str
                     ) -> tuple[tuple[HardwarePoint, ...], tuple[SkippedPoint, ...]]:
    total = max(len(points), 1) * math.prod(len(v) for _, v in grid)
    if total > MAX_HARDWARE_POINTS:
        raise SweepError(f"the sweep has {total} hardware points, more than "
                         f"{MAX_HARDWARE_POINTS}; narrow [grid]")
    keys = [k for k, _ in grid]
    good: dict[str, HardwarePoint] = {}
    skipped: list[SkippedPoint] = []
    used_grid: set[tuple[str, Any]] = set()
    used_point: set[int] = set()
    first_reason: dict[Any, str] = {}
    for index, point in enumerate(points or [{}]):
        for combo in itertools.product(*(v for _, v in grid)):
            params = {**point, **dict(zip(keys, combo, strict=True))}
            tags = [("grid", k, repr(v)) for k, v in zip(keys, combo, strict=True)]
            try:
                hw = base.replace(**params)
            except AccelsimError as exc:
                reason = str(exc)
                if invalid == "error":
                    raise SweepError(f"hardware point {_point_label(params)} is invalid: "
                                     f"{reason}; fix [grid]/[[points]] or set invalid = "
                                     "\"skip\"") from None
                skipped.append(SkippedPoint(params, reason))
                for tag in [*tags, ("point", index)]:
                    first_reason.setdefault(tag, reason)
                continue
            used_grid.update((k, repr(v)) for k, v in zip(keys, combo, strict=True))
            used_point.add(index)
            good.setdefault(hw.digest(), HardwarePoint(params, hw, hw.digest()))
    for k, values in grid:
        for v in values:
            if (k, repr(v)) not in used_grid:
                raise SweepError(f"[grid] {k} = {_show(v)} gives no valid hardware in any "
                                 f"combination: {first_reason[('grid', k, repr(v))]}")
    for index, point in enumerate(points):
        if index not in used_point:
            raise SweepError(f"point {_point_label(point)} gives no valid hardware in any "
                             f"combination: {first_reason[('point', index)]}")
    return tuple(good.values()), tuple(skipped)


def _blake(data: bytes | None = None, path: Path | None = None) -> str:
    h = hashlib.blake2b(digest_size=16)
    if path is not None:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    if data is not None:
        h.update(data)
    return h.hexdigest()


def _trace_workload(path: Path) -> Workload:
    from accelsim.trace import open_trace

    with open_trace(path) as t:
        md = t.metadata.to_dict()
    mp = md.get("method_params") or {}
    sparsity = mp.get("sparsity", mp.get("weight_sparsity"))
    info = {"trace": str(path), "workload_kind": "trace", "model": md["model"],
            "dataset": md["dataset"], "method": md["method"],
            "sparsity": float(sparsity) if _is_number(sparsity) else None,
            "batch": len(md.get("batch_indices") or ()), "step": md.get("step"),
            "json": {"path": str(path), "metadata": md}}
    return Workload("trace", str(path), _blake(path=path), str(path), {}, info)


def _trace_workloads(where: str, entries: Any, run_steps: str,
                     base_dir: Path) -> list[Workload]:
    from accelsim.trace import find_trace, list_traces

    if isinstance(entries, str):
        entries = [entries]
    if not isinstance(entries, list) or not all(isinstance(e, str) and e for e in entries):
        raise _fail(where, f"{_show(entries)} must be a list of paths (trace files, run "
                           "directories, globs)")
    out = []
    for entry in entries:
        pattern = Path(entry).expanduser()
        pattern = pattern if pattern.is_absolute() else base_dir / pattern
        if glob.has_magic(str(pattern)):
            paths = [Path(p) for p in sorted(glob.glob(str(pattern), recursive=True))]
            if not paths:
                raise _fail(where, f"{_show(entry)} matches no file; check the pattern (paths "
                                   "are relative to the spec file)")
        else:
            paths = [pattern]
        for p in paths:
            try:
                if p.is_dir():
                    found = ([f for _, f in list_traces(p)] if run_steps == "all"
                             else [find_trace(p)])
                    if not found:
                        find_trace(p)  # raises the "no traces" error
                else:
                    found = [find_trace(p)]
                out.extend(_trace_workload(Path(os.path.normpath(f))) for f in found)
            except AccelsimError as exc:
                raise _fail(where, str(exc)) from None
    return out


def _synthetic_workloads(where: str, table: Any) -> list[Workload]:
    from accelsim.networks.catalog import layer_table
    from accelsim.trace.synthetic import SyntheticSpec

    if not isinstance(table, dict):
        raise _fail(where, "must be a table: [[workloads.synthetic]] with model = ..., "
                           "sparsity = [...]")
    known = (*SYNTHETIC_KEYS, *SYNTHETIC_EXTRA)
    for key in table:
        if key not in known:
            raise _fail(where, f"{key} is not a known key{_suggest(key, known)}; known keys: "
                               f"{', '.join(known)}")
    if "model" not in table:
        raise _fail(where, "model is missing; write e.g. model = \"resnet20\"")
    axes = []
    for key in (*SYNTHETIC_KEYS, *SYNTHETIC_EXTRA):
        if key not in table and key not in SYNTHETIC_DEFAULTS:
            continue
        value = table.get(key, SYNTHETIC_DEFAULTS.get(key))
        if key == "layer_sparsity":
            if not isinstance(value, dict):
                raise _fail(f"{where} layer_sparsity", "must be a table {layer = sparsity}")
            axes.append((key, (value,)))
        elif isinstance(value, list):
            if not value:
                raise _fail(f"{where} {key}", "empty list; give at least one value")
            axes.append((key, tuple(_scalar(f"{where} {key}", v) for v in value)))
        else:
            axes.append((key, (_scalar(f"{where} {key}", value),)))
    out = []
    for combo in itertools.product(*(v for _, v in axes)):
        fields = dict(zip((k for k, _ in axes), combo, strict=True))
        model, method, sparsity = fields.pop("model"), fields.pop("method"), fields.pop("sparsity")
        try:
            if not isinstance(model, str):
                raise ConfigError(f"model = {_show(model)} must be a zoo model name (string)")
            layer_table(model, fields["dataset"], fields.get("input_size"))
            spec = SyntheticSpec.for_method(model, method, sparsity, **fields)
        except (AccelsimError, TypeError) as exc:
            raise _fail(where, str(exc)) from None
        d = spec.to_dict()
        digest = "synthetic-" + _blake(json.dumps(d, sort_keys=True).encode())
        extra = "".join(f"/{k}={fields[k]}" for k in SYNTHETIC_EXTRA if k in table)
        label = (f"synthetic:{model}/{spec.dataset}/{method}@{sparsity}/b{spec.batch}/"
                 f"s{spec.seed}{extra}")
        info = {"trace": label, "workload_kind": "synthetic", "model": model,
                "dataset": spec.dataset, "method": method, "sparsity": float(sparsity),
                "batch": spec.batch, "step": None, "json": {"synthetic": d}}
        out.append(Workload("synthetic", label, digest, None, d, info))
    return out


def load_sweep(source: str | os.PathLike[str] | Mapping[str, Any], *,
               base_dir: str | os.PathLike[str] | None = None) -> SweepSpec:
    """The one way to build a :class:`SweepSpec`: from a TOML file (relative paths inside
    it are relative to the file) or a dict (relative to ``base_dir``, default the current
    directory).  Raises :class:`SweepError` (one line) for any bad key or value, a missing
    trace, or a sweep without any valid point."""
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
        return _from_dict(data, root, default_name, src)
    except SweepError as exc:
        if src:
            raise SweepError(f"sweep spec {src}: {exc}") from None
        raise


def _from_dict(data: dict[str, Any], root: Path, default_name: str, src: str) -> SweepSpec:
    for key in data:
        if key not in TOP_KEYS:
            raise SweepError(f"{key} is not a known top-level key{_suggest(key, TOP_KEYS)}; "
                             f"known: {', '.join(TOP_KEYS)}")
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name:
        raise SweepError(f"name = {_show(name)} must be a non-empty string")
    invalid = data.get("invalid", "skip")
    if invalid not in ("skip", "error"):
        raise SweepError(f"invalid = {_show(invalid)} must be \"skip\" or \"error\"")
    raw_passes = data.get("passes", list(PASSES))
    if isinstance(raw_passes, str):
        raw_passes = [raw_passes]
    if not isinstance(raw_passes, list) or not raw_passes:
        raise SweepError(f"passes = {_show(raw_passes)} must be a non-empty list of "
                         f"{', '.join(PASSES)}")
    passes = []
    for p in raw_passes:
        norm = p.replace("-", "_") if isinstance(p, str) else p
        if norm not in PASSES:
            raise SweepError(f"passes: {_show(p)} is not a pass{_suggest(str(p), PASSES)}; "
                             f"use {', '.join(PASSES)}")
        if norm not in passes:
            passes.append(norm)

    base_table = data.get("base", {})
    if not isinstance(base_table, dict):
        raise SweepError("[base] must be a table: [base] hardware = \"bit-tactical\"")
    for key in base_table:
        if key != "hardware":
            raise SweepError(f"[base] {key} is not a known key; the only key is hardware "
                             "(a built-in name or a hardware TOML path)")
    try:
        base = load_hardware(_hardware_source(base_table["hardware"], root)
                             if "hardware" in base_table else None)
    except AccelsimError as exc:
        raise SweepError(f"[base] hardware: {exc}") from None
    known = _hardware_keys(base)

    grid_table = data.get("grid", {})
    if not isinstance(grid_table, dict):
        raise SweepError("[grid] must be a table of dotted hardware keys")
    grid = [(k, _values(f"[grid] {k}", v))
            for k, v in _flatten_table("[grid]", grid_table, known, ranges=True).items()]

    points: list[dict[str, Any]] = []
    raw_points = data.get("points", [])
    if not isinstance(raw_points, list) or not all(isinstance(p, dict) for p in raw_points):
        raise SweepError("points must be an array of tables: [[points]] with dotted hardware "
                         "keys")
    for i, p in enumerate(raw_points, 1):
        where = f"[[points]] #{i}"
        flat = _flatten_table(where, p, known, ranges=False)
        if not flat:
            raise SweepError(f"{where} is empty; give at least one hardware key")
        points.append({k: _scalar(f"{where} {k}", v) for k, v in flat.items()})
    zip_table = data.get("zip", {})
    if not isinstance(zip_table, dict):
        raise SweepError("[zip] must be a table of equal-length lists")
    zipped = _flatten_table("[zip]", zip_table, known, ranges=False)
    if zipped:
        lengths = {k: len(v) if isinstance(v, list) else -1 for k, v in zipped.items()}
        if any(n < 1 for n in lengths.values()) or len(set(lengths.values())) != 1:
            got = ", ".join(f"{k}: {n if n >= 0 else 'not a list'}" for k, n in lengths.items())
            raise SweepError(f"[zip] needs non-empty lists of equal length, got {got}")
        n = next(iter(lengths.values()))
        for i in range(n):
            points.append({k: _scalar(f"[zip] {k}", v[i]) for k, v in zipped.items()})
    clash = {k for p in points for k in p} & {k for k, _ in grid}
    if clash:
        raise SweepError(f"{', '.join(sorted(clash))} is set in both [grid] and "
                         "[[points]]/[zip]; set each parameter in one place")
    hardware, skipped = _expand_hardware(base, points, grid, invalid)

    wl = data.get("workloads")
    if not isinstance(wl, dict) or not wl:
        raise SweepError("[workloads] is missing; give traces = [...] and/or "
                         "[[workloads.synthetic]] tables")
    for key in wl:
        if key not in WORKLOAD_TABLE_KEYS:
            raise SweepError(f"[workloads] {key} is not a known key"
                             f"{_suggest(key, WORKLOAD_TABLE_KEYS)}; known keys: "
                             f"{', '.join(WORKLOAD_TABLE_KEYS)}")
    run_steps = wl.get("run_steps", "latest")
    if run_steps not in ("latest", "all"):
        raise SweepError(f"[workloads] run_steps = {_show(run_steps)} must be \"latest\" or "
                         "\"all\"")
    workloads: list[Workload] = []
    if "traces" in wl:
        workloads += _trace_workloads("[workloads] traces", wl["traces"], run_steps, root)
    synthetic = wl.get("synthetic", [])
    if isinstance(synthetic, dict):
        synthetic = [synthetic]
    if not isinstance(synthetic, list):
        raise SweepError("[workloads] synthetic must be an array of tables "
                         "([[workloads.synthetic]])")
    for i, table in enumerate(synthetic, 1):
        workloads += _synthetic_workloads(f"[[workloads.synthetic]] #{i}", table)
    unique = tuple({w.digest: w for w in reversed(workloads)}.values())[::-1]
    if not unique:
        raise SweepError("[workloads] holds no workload; give traces = [...] and/or "
                         "[[workloads.synthetic]] tables")
    return SweepSpec(name, base, hardware, unique, tuple(passes), invalid, skipped,
                     tuple(grid), src)


# ---- one point ------------------------------------------------------------------------
@dataclass(frozen=True)
class PointTask:
    """What a worker needs to simulate one point: the workload, the hardware, the passes
    still missing from the store, and the swept parameters (recorded with the point)."""

    workload: Workload
    hardware: Hardware
    passes: tuple[str, ...]
    params: dict[str, Any]
    sweep: str = ""


_CACHE: dict[tuple[str, bool], list] = {}
_CACHE_LOCK = threading.Lock()


def _load_layers(workload: Workload, values: bool) -> list:
    """``[(geometry, {pass: {role: array}})]`` of a workload: arrays are values for the
    bit-serial back ends, masks otherwise (as :func:`accelsim.simulate.simulate` reads them).
    The last workload is cached per process (the tasks come workload by workload)."""
    key = (workload.digest, values)
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
    layers = []
    size = 0
    if workload.kind == "trace":
        from accelsim.trace import open_trace

        with open_trace(workload.path) as t:
            for layer in t.iter_layers():
                read = layer.operand if values else layer.mask
                ops = {p: {r: read(p, r) for r in PASS_ROLES[p]} for p in layer.passes}
                size += sum(a.nbytes for o in ops.values() for a in o.values())
                layers.append((layer.geometry, ops))
    else:
        from accelsim.trace.synthetic import SyntheticSpec, generate_layers

        for g, ops in generate_layers(SyntheticSpec(**workload.synthetic)):
            if not values:
                ops = {p: {r: a != 0 for r, a in o.items()} for p, o in ops.items()}
            size += sum(a.nbytes for o in ops.values() for a in o.values())
            layers.append((g, ops))
    if size <= CACHE_BYTES:
        with _CACHE_LOCK:
            _CACHE.clear()
            _CACHE[key] = layers
    return layers


def simulate_point(task: PointTask) -> PointRecord:
    """Simulate one point (runs in a worker): the same figures as
    :func:`accelsim.simulate.simulate` (traces) or :func:`accelsim.api.simulate_synthetic`
    (synthetic workloads) give, as a :class:`accelsim.explore.store.PointRecord`."""
    from accelsim.simulate import simulate_operands

    t0 = time.perf_counter()
    hw = task.hardware
    rows = []
    totals = dict.fromkeys(task.passes, ZERO)
    for index, (g, ops) in enumerate(_load_layers(task.workload, hw.backend.serial)):
        wanted = {p: ops[p] for p in task.passes if p in ops}
        report = simulate_operands(g, wanted, hw, task.passes)
        for p, b in report.passes.items():
            rows.append((g.name, index, p, b))
            totals[p] = totals[p] + b
    rows.extend((TOTAL, -1, p, b) for p, b in totals.items())
    import socket

    return PointRecord(task.workload.digest, hw.digest(), task.passes, tuple(rows),
                       hw.to_dict(), task.workload.info, task.params, task.sweep,
                       time.perf_counter() - t0, f"{socket.gethostname()}:{os.getpid()}")


# ---- running --------------------------------------------------------------------------
@dataclass(frozen=True)
class SweepResult:
    """What a run did: ``total`` points in the sweep, ``already_done`` found in the store,
    ``computed`` now, ``failed`` (trace, params, error), ``remaining`` (left for a later run
    by ``max_points``), ``skipped_invalid`` hardware combinations, ``seconds`` wall time."""

    name: str
    store: Path
    total: int
    already_done: int
    computed: int
    failed: tuple[tuple[str, dict[str, Any], str], ...]
    remaining: int
    skipped_invalid: int
    seconds: float
    executor: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "store": str(self.store), "total": self.total,
                "already_done": self.already_done, "computed": self.computed,
                "failed": [{"trace": t, "params": p, "error": e} for t, p, e in self.failed],
                "remaining": self.remaining, "skipped_invalid": self.skipped_invalid,
                "seconds": self.seconds, "executor": self.executor}


Outcome = tuple[PointTask, PointRecord | None, BaseException | None]


def _ignore_sigint() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_inline(tasks: Sequence[PointTask]) -> Iterator[Outcome]:
    for task in tasks:
        try:
            yield task, simulate_point(task), None
        except AccelsimError as exc:
            yield task, None, exc


def _run_pool(tasks: Sequence[PointTask], workers: int) -> Iterator[Outcome]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    pool = ProcessPoolExecutor(max_workers=workers, initializer=_ignore_sigint,
                               mp_context=multiprocessing.get_context("spawn"))
    try:
        futures = {pool.submit(simulate_point, t): t for t in tasks}
        for fut in as_completed(futures):
            try:
                yield futures[fut], fut.result(), None
            except BrokenProcessPool:
                raise SweepError("a worker process died (out of memory?); the finished points "
                                 "are in the store: re-run the sweep to resume") from None
            except Exception as exc:  # noqa: BLE001 - a failed point is recorded, not fatal
                yield futures[fut], None, exc
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _run_dask(tasks: Sequence[PointTask], scheduler: Any) -> Iterator[Outcome]:
    try:
        from dask.distributed import Client, as_completed
    except ImportError:
        raise SweepError("--scheduler needs dask.distributed; pip install 'dask[distributed]' "
                         "(the accelsim[distributed] extra)") from None
    own = not isinstance(scheduler, Client)
    try:
        client = Client(scheduler, timeout="30s") if own else scheduler
    except (OSError, TimeoutError, ValueError) as exc:
        raise SweepError(f"cannot reach the Dask scheduler {scheduler}: {exc}; start one with "
                         "`dask scheduler` or check the address") from None
    try:
        futures = {client.submit(simulate_point, t, pure=False): t for t in tasks}
        try:
            for fut in as_completed(futures):
                task = futures[fut]
                try:
                    yield task, fut.result(), None
                except Exception as exc:  # noqa: BLE001 - recorded, not fatal
                    yield task, None, exc
        finally:
            client.cancel(list(futures))
    finally:
        if own:
            client.close()


def plan(spec: SweepSpec, done: Mapping[tuple[str, str], frozenset[str]]) -> list[PointTask]:
    """The points of ``spec`` not (completely) in the store, workload by workload, each with
    its missing passes."""
    tasks = []
    for wl in spec.workloads:
        for hp in spec.hardware:
            have = done.get((wl.digest, hp.digest), frozenset())
            missing = tuple(p for p in spec.passes if p not in have)
            if missing:
                tasks.append(PointTask(wl, hp.hardware, missing, hp.params, spec.name))
    return tasks


def default_workers() -> int:
    """Cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def run_sweep(spec: SweepSpec | str | os.PathLike[str] | Mapping[str, Any],
              out: str | os.PathLike[str], *, workers: int | None = None,
              scheduler: Any = None, progress: bool = True, max_points: int | None = None,
              on_point: Callable[[PointRecord], None] | None = None) -> SweepResult:
    """Run a sweep into the results store ``out`` (created if missing).

    Points already complete in the store are skipped; each finished point is committed at
    once (an interrupted run loses at most the points in flight).  ``workers``: local
    processes (default: every core; 1 runs in this process); ``scheduler``: a Dask
    scheduler address or ``Client`` (then ``workers`` is ignored); ``max_points``: stop
    after computing that many points (the rest stays for the next run); ``on_point`` is
    called with every committed record.  A point whose simulation raises is recorded in the
    store's ``failures`` and reported in :attr:`SweepResult.failed`; the others go on."""
    if not isinstance(spec, SweepSpec):
        spec = load_sweep(spec)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        raise SweepError(f"workers = {workers!r} must be an integer >= 1")
    if max_points is not None and (isinstance(max_points, bool) or not isinstance(max_points, int)
                                   or max_points < 0):
        raise SweepError(f"max_points = {max_points!r} must be an integer >= 0")
    t0 = time.perf_counter()
    with open_store(out) as store:
        if spec.skipped:
            store.record_skipped(spec.name, ((s.params, s.reason) for s in spec.skipped))
        tasks = plan(spec, store.done())
        already = spec.size - len(tasks)
        remaining = 0
        if max_points is not None and len(tasks) > max_points:
            remaining = len(tasks) - max_points
            tasks = tasks[:max_points]
        if scheduler is not None:
            executor, outcomes = f"dask {scheduler}", _run_dask(tasks, scheduler)
        else:
            n = min(workers or default_workers(), max(len(tasks), 1))
            executor = f"{n} local process{'es' if n > 1 else ''}"
            outcomes = _run_inline(tasks) if n == 1 else _run_pool(tasks, n)
        failed: list[tuple[str, dict[str, Any], str]] = []
        computed = 0
        bar = _progress(spec, already, progress)
        try:
            for task, record, error in outcomes:
                if record is not None:
                    store.write_point(record)
                    computed += 1
                    if on_point is not None:
                        on_point(record)
                else:
                    message = (str(error) if isinstance(error, AccelsimError)
                               else f"{type(error).__name__}: {error}")
                    store.record_failure(task.workload.digest, task.hardware.digest(), message)
                    failed.append((task.workload.label, task.params, message))
                    bar.set_postfix(failed=len(failed))
                bar.update(1)
        finally:
            with contextlib.suppress(Exception):
                outcomes.close()
            bar.close()
    return SweepResult(spec.name, Path(out), spec.size, already, computed, tuple(failed),
                       remaining, len(spec.skipped), time.perf_counter() - t0, executor)


def _progress(spec: SweepSpec, already: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=spec.size, initial=already, unit="point", desc=spec.name,
                disable=not enabled, file=sys.stderr, dynamic_ncols=True, smoothing=0.05)


__all__ = ["HardwarePoint", "PointTask", "SkippedPoint", "SweepError", "SweepResult",
           "SweepSpec", "Workload", "default_workers", "load_sweep", "plan", "run_sweep",
           "simulate_point"]
