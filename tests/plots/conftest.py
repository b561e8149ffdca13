"""Fixtures of the plots tests: tiny simulated Reports, fake sweep-store rows and files, a
fake training run directory, a GPU results file."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import pytest

from accelsim import api, load_hardware
from plots.data import PASSES, TOTAL


@pytest.fixture(scope="module")
def reports() -> dict[str, list]:
    """Tiny simulated Reports: the digits CNN on two architectures at two sparsities."""
    sparse, dense = load_hardware(None), load_hardware("dadiannao")
    return {label: [api.simulate_synthetic("digits-cnn", hw, dataset="digits", sparsity=s)
                    for s in (0.5, 0.9)]
            for label, hw in (("T<2,5>", sparse), ("DaDianNao", dense))}


def _store_rows() -> list[dict]:
    """Fake sweep-store rows: 2 workloads x lookahead {0,1,2} x lookaside {0,3} x 2 back
    ends, 3 layers x 3 passes, plus *total* rows; the speedup grows with h, d, sparsity."""
    rows = []
    for trace, sparsity in (("runs/a/step-00000040.trace", 0.8),
                            ("runs/b/step-00000040.trace", 0.9)):
        for backend in ("bit-parallel", "tcle"):
            for h in (0, 1, 2):
                for d in (0, 3):
                    hw = {"array.tiles": 16, "array.rows": 16, "array.columns": 1,
                          "array.lanes": 16, "array.clock_ghz": 1.0, "frontend.kind": "tcl",
                          "frontend.shape": "T",
                          "frontend.lookahead": h, "frontend.lookaside": d,
                          "backend.kind": backend}
                    digest = f"{backend}-{h}-{d}".ljust(64, "0")
                    gain = (1 + 0.4 * h + 0.1 * d) * (1 + sparsity) * (2 if backend == "tcle" else 1)
                    for p in PASSES:
                        tot = {"base_cycles": 0, "compute_cycles": 0, "stall_cycles": 0,
                               "ideal_cycles": 0, "energy_pj": 0.0, "base_energy_pj": 0.0}
                        for i, layer in enumerate(("conv1", "conv2", "fc")):
                            base = 1000 * (i + 1)
                            compute = int(base / gain) + 1
                            r = {"trace": trace, "trace_digest": trace[5:6] * 64,
                                 "hardware_digest": digest, "sparsity": sparsity, **hw,
                                 "layer": layer, "pass": p, "base_cycles": base,
                                 "compute_cycles": compute, "ideal_cycles": base // 10,
                                 "stall_cycles": 0, "speedup": base / compute,
                                 "energy_pj": 50.0 * compute + 10 * h, "base_energy_pj": 50.0 * base}
                            rows.append(r)
                            for k in tot:
                                tot[k] += r[k]
                        rows.append({**rows[-1], **tot, "layer": TOTAL,
                                     "speedup": tot["base_cycles"] / tot["compute_cycles"]})
    return rows


@pytest.fixture(scope="module")
def store_rows() -> list[dict]:
    return _store_rows()


@pytest.fixture(scope="module")
def store_files(tmp_path_factory, store_rows) -> dict[str, Path]:
    """The fake rows as a SQLite store and as a CSV export."""
    d = tmp_path_factory.mktemp("store")
    cols = list(store_rows[0])
    db = d / "results.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE meta (key TEXT, value TEXT)")
    con.execute("CREATE TABLE results (" + ", ".join(f'"{c}"' for c in cols) + ")")
    con.executemany("INSERT INTO results VALUES (" + ", ".join("?" * len(cols)) + ")",
                    [[r[c] for c in cols] for r in store_rows])
    con.commit()
    con.close()
    path = d / "results.csv"
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, cols)
        w.writeheader()
        w.writerows(store_rows)
    return {"sqlite": db, "csv": path}


def _epoch(e: int) -> dict:
    layers = ("conv1", "conv2", "fc")
    return {
        "epoch": e, "step": 40 * (e + 1), "lr": 0.05, "phase": None, "seconds": 1.0,
        "train": {"loss": 2.0 / (e + 1), "accuracy": 0.5 + 0.1 * e, "samples": 1000},
        "test": {"loss": 2.2 / (e + 1), "accuracy": 0.45 + 0.1 * e, "samples": 300},
        "weight_density": {"overall": 0.12, "layers": {"conv1": 1.0, "conv2": 0.1, "fc": 0.1}},
        "zero_filters": {"overall": 0.0, "layers": dict.fromkeys(layers, 0.0)},
        "activation_density": {
            "test": {"overall": 0.55, "layers": {"conv1": 1.0, "conv2": 0.5, "fc": 0.4}},
            "train": {"overall": 0.5, "layers": {"conv1": 1.0, "conv2": 0.45, "fc": 0.35}}},
        "dead_neurons": {"dnr": 0.3 + 0.01 * e, "dynamic_dnr": 0.25, "static_dnr": 0.05 + 0.01 * e,
                         "samples": 300, "neurons_per_sample": 1000, "dead": 90000,
                         "static_neurons": 50,
                         "sites": {"relu1": {"neurons": 600, "dnr": 0.3, "static_dnr": 0.05,
                                             "dynamic_dnr": 0.25},
                                   "relu2": {"neurons": 400, "dnr": 0.31, "static_dnr": 0.06,
                                             "dynamic_dnr": 0.25}}},
        "flops": None,
        "measured_densities": {"conv2": {"weight": 0.1, "saved_activation": 0.1, "target": 0.1},
                               "fc": {"weight": 0.1, "saved_activation": 0.12, "target": 0.1}},
        "target_densities": {"conv1": 1.0, "conv2": 0.1, "fc": 0.1},
    }


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A fake training run directory: config.json, 3 epochs of metrics.jsonl (the keys of
    training.metrics.epoch_metrics), and one synthetic trace of the digits CNN."""
    d = tmp_path_factory.mktemp("run")
    (d / "config.json").write_text(json.dumps({
        "method": "swat-u", "sparsity": 0.9, "model": "digits-cnn", "data": "digits",
        "epochs": 3, "batch_size": 64, "lr": 0.05, "seed": 0, "method_params": {}}))
    (d / "metrics.jsonl").write_text("".join(json.dumps(_epoch(e)) + "\n" for e in range(3)))
    api.synthetic_trace(d / "traces" / "step-00000080.trace", model="digits-cnn",
                        dataset="digits", method="swat-u", sparsity=0.9, batch=1)
    return d


@pytest.fixture(scope="module")
def gpu_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("gpu") / "gpu.json"
    path.write_text(json.dumps({"device": "NVIDIA H100", "layers": [
        {"layer": "conv2", "pass": "forward", "speedup": 1.8},
        {"layer": "conv2", "pass": "backward_weight", "speedup": 1.3},
        {"layer": "fc", "pass": "forward", "speedup": 0.9}]}))
    return path
