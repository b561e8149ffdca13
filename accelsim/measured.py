"""Measured GPU speedups per layer and pass: the GPU results file (the JSON of ``accelsim
gpu-bench``, :mod:`accelsim.gpu.bench`, or the minimal ``{"layers": [{"layer", "pass",
"speedup"}]}``) as :class:`GpuResults`.  Read by :mod:`accelsim.validate` and the plots."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accelsim.errors import ResultsError
from accelsim.trace.schema import PASSES

__all__ = ["GpuResults", "load_gpu_results", "pass_name"]


@dataclass(frozen=True)
class GpuResults:
    """Measured GPU speedups: ``speedups[(layer, pass)]``, plus where they came from."""

    speedups: dict[tuple[str, str], float]
    device: str = ""
    source: str = ""


def pass_name(text: Any, where: str) -> str:
    """The pass a GPU results file names, in the simulator's spelling: ``"backward-input"``
    and ``"backward_input"`` are the same pass (the one place both spellings are accepted).
    Raises :class:`ResultsError` naming ``where`` for anything that is not a pass."""
    name = str(text).strip().lower().replace("-", "_")
    if name not in PASSES:
        raise ResultsError(f"{where}: pass {text!r} is not a pass; use one of "
                           f"{', '.join(PASSES)} (hyphens are accepted too)")
    return name


def _gpu_record(p: Path, i: int, rec: Any, speedup: Any) -> tuple[tuple[str, str], float]:
    try:
        value = float(speedup)
        layer, given = str(rec["layer"]), rec["pass"]
    except (KeyError, TypeError, ValueError):
        raise ResultsError(f"GPU results file {p}: record {i} must have layer, pass and a "
                        f"numeric speedup, got {rec!r}") from None
    key = (layer, pass_name(given, f"GPU results file {p}: record {i}"))
    if not math.isfinite(value) or value <= 0:
        raise ResultsError(f"GPU results file {p}: record {i} ({key[0]} {key[1]}) has speedup "
                        f"{value}; it must be a positive number")
    return key, value


def _read_json(p: Path) -> Mapping[str, Any]:
    if not p.is_file():
        raise ResultsError(f"GPU results file {p} does not exist; give the JSON written by the "
                        "GPU benchmark ({\"layers\": [{\"layer\", \"pass\", \"speedup\"}]})")
    try:
        data = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise ResultsError(f"GPU results file {p} is not valid JSON ({exc.msg}, line "
                        f"{exc.lineno})") from None
    except UnicodeDecodeError:
        raise ResultsError(f"GPU results file {p} is not a text (JSON) file") from None
    if not isinstance(data, Mapping):
        raise ResultsError(f"GPU results file {p} must hold a JSON object with a \"layers\" list, "
                        f"not a {type(data).__name__}")
    return data


def _from_rows(p: Path, rows: list[Any], baseline: str) -> dict[tuple[str, str], float]:
    """Speedups over ``baseline`` from the per-row timings of ``accelsim gpu-bench``."""
    out: dict[tuple[str, str], float] = {}
    key = f"ours_total_vs_{baseline}"
    for i, rec in enumerate(rows):
        speedups = rec.get("speedup") if isinstance(rec, Mapping) else None
        if not isinstance(speedups, Mapping):
            raise ResultsError(f"GPU results file {p}: row {i} has no \"speedup\" object "
                            "(expected the rows of `accelsim gpu-bench`)")
        if speedups.get(key) is None:
            continue  # this baseline was not timed for this layer and pass
        k, v = _gpu_record(p, i, rec, speedups[key])
        out[k] = v
    if not out:
        raise ResultsError(f"GPU results file {p}: no row has a {key} speedup; the baseline "
                        f"{baseline} was not timed (see --baselines of gpu-bench)")
    return out


def _from_layers(p: Path, layers: Any) -> dict[tuple[str, str], float]:
    """Speedups (over dense fp32) from the ``layers`` list."""
    if not isinstance(layers, list) or not layers:
        raise ResultsError(f"GPU results file {p} needs a non-empty \"layers\" list of "
                        "{\"layer\", \"pass\", \"speedup\"} records")
    out: dict[tuple[str, str], float] = {}
    for i, rec in enumerate(layers):
        if not isinstance(rec, Mapping):
            raise ResultsError(f"GPU results file {p}: record {i} must be an object with "
                            f"layer, pass and speedup, got {rec!r}")
        k, v = _gpu_record(p, i, rec, rec.get("speedup"))
        out[k] = v
    return out


def load_gpu_results(path: str | os.PathLike[str], *, baseline: str | None = None) -> GpuResults:
    """Read a GPU results file: ``{"layers": [{"layer", "pass", "speedup"}, ...]}``.

    The JSON of ``accelsim gpu-bench`` (:mod:`accelsim.gpu.bench`) is such a file: its
    ``layers`` list holds the speedup of ``ours_total`` over ``dense_fp32``; the device
    defaults to its ``environment.gpu``.  With ``baseline`` (e.g. ``"dense_tf32"``) the
    speedups are read from its per-row ``rows[i].speedup["ours_total_vs_BASELINE"]``
    instead (rows where that baseline was not timed are left out); a minimal file without
    ``rows`` only has speedups over dense fp32 (``baseline="dense_fp32"``)."""
    p = Path(path)
    data = _read_json(p)
    env = data.get("environment")
    device = data.get("device") or (env.get("gpu") if isinstance(env, Mapping) else "") or ""
    source = data.get("source", "")
    if isinstance(source, Mapping):
        source = source.get("trace", "")
    rows = data.get("rows")
    has_rows = isinstance(rows, list) and bool(rows)
    if baseline is not None and (baseline != "dense_fp32" or has_rows):
        if not has_rows:
            raise ResultsError(f"GPU results file {p} has no per-row timings (\"rows\" of "
                            f"`accelsim gpu-bench`), so only speedups over dense_fp32, not "
                            f"{baseline}; use baseline dense_fp32")
        out = _from_rows(p, rows, baseline)
    else:
        out = _from_layers(p, data.get("layers"))
    return GpuResults(out, str(device), str(source))
