"""The workloads of a sweep: trace files, run directories and globs (``traces``), and seeded
synthetic traces (``[[workloads.synthetic]]``), each with its content digest."""

from __future__ import annotations

import glob
import hashlib
import itertools
import json
import os
from pathlib import Path
from typing import Any

from accelsim.errors import AccelsimError, ConfigError
from accelsim.explore.spec import (
    SYNTHETIC_DEFAULTS,
    SYNTHETIC_EXTRA,
    SYNTHETIC_KEYS,
    Workload,
    fail,
    is_number,
    scalar,
)
from accelsim.networks.catalog import TableDeriver, layer_table
from accelsim.spec.checks import show, suggest
from accelsim.trace.reader import open_trace
from accelsim.trace.rundir import find_trace, list_traces
from accelsim.trace.synthetic import SyntheticSpec

__all__ = ["synthetic_workloads", "trace_workloads"]



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
    with open_trace(path) as t:
        md = t.metadata.to_dict()
    mp = md.get("method_params") or {}
    sparsity = mp.get("sparsity", mp.get("weight_sparsity"))
    info = {"trace": str(path), "workload_kind": "trace", "model": md["model"],
            "dataset": md["dataset"], "method": md["method"],
            "sparsity": float(sparsity) if is_number(sparsity) else None,
            "batch": len(md.get("batch_indices") or ()), "step": md.get("step"),
            "json": {"path": str(path), "metadata": md}}
    return Workload("trace", str(path), _blake(path=path), str(path), {}, info)


def trace_workloads(where: str, entries: Any, run_steps: str,
                     base_dir: Path) -> list[Workload]:
    if isinstance(entries, str):
        entries = [entries]
    if not isinstance(entries, list) or not all(isinstance(e, str) and e for e in entries):
        raise fail(where, f"{show(entries)} must be a list of paths (trace files, run "
                           "directories, globs)")
    out = []
    for entry in entries:
        pattern = Path(entry).expanduser()
        pattern = pattern if pattern.is_absolute() else base_dir / pattern
        if glob.has_magic(str(pattern)):
            paths = [Path(p) for p in sorted(glob.glob(str(pattern), recursive=True))]
            if not paths:
                raise fail(where, f"{show(entry)} matches no file; check the pattern (paths "
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
                raise fail(where, str(exc)) from None
    return out


def synthetic_workloads(where: str, table: Any, derive: TableDeriver | None = None
                        ) -> list[Workload]:
    if not isinstance(table, dict):
        raise fail(where, "must be a table: [[workloads.synthetic]] with model = ..., "
                           "sparsity = [...]")
    known = (*SYNTHETIC_KEYS, *SYNTHETIC_EXTRA)
    for key in table:
        if key not in known:
            raise fail(where, f"{key} is not a known key{suggest(key, known)}; known keys: "
                               f"{', '.join(known)}")
    if "model" not in table:
        raise fail(where, "model is missing; write e.g. model = \"resnet20\"")
    axes = []
    for key in (*SYNTHETIC_KEYS, *SYNTHETIC_EXTRA):
        if key not in table and key not in SYNTHETIC_DEFAULTS:
            continue
        value = table.get(key, SYNTHETIC_DEFAULTS.get(key))
        if key == "layer_sparsity":
            if not isinstance(value, dict):
                raise fail(f"{where} layer_sparsity", "must be a table {layer = sparsity}")
            axes.append((key, (value,)))
        elif isinstance(value, list):
            if not value:
                raise fail(f"{where} {key}", "empty list; give at least one value")
            axes.append((key, tuple(scalar(f"{where} {key}", v) for v in value)))
        else:
            axes.append((key, (scalar(f"{where} {key}", value),)))
    out = []
    for combo in itertools.product(*(v for _, v in axes)):
        fields = dict(zip((k for k, _ in axes), combo, strict=True))
        model, method, sparsity = fields.pop("model"), fields.pop("method"), fields.pop("sparsity")
        try:
            if not isinstance(model, str):
                raise ConfigError(f"model = {show(model)} must be a zoo model name (string)")
            layer_table(model, fields["dataset"], fields.get("input_size"), derive=derive)
            spec = SyntheticSpec.for_method(model, method, sparsity, **fields)
        except (AccelsimError, TypeError) as exc:
            raise fail(where, str(exc)) from None
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
