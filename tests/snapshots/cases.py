"""Snapshot cases: today's outputs of the main entry points, kept bit-identical through
refactors (issue 16).  ``python -m tests.snapshots.cases --write`` regenerates the JSON
files next to this module (``--write-legacy`` the legacy ones); the test
(tests/test_snapshots.py) only reads them.  Issue 13 regenerated both, with the proof
``python -m tests.snapshots.prove_issue13`` that no old number changed but the re-priced
energies.

Every case is a function ``(workdir) -> JSON-able value``; fields that legitimately vary
between runs (wall times, paths, hosts, timestamps) are dropped before comparison.

``legacy/*.json`` keep the numbers of the order and rules before issue 14 (row-major
traversal, per-tensor quantisation, the exact output size on the systolic machine, no
first-layer fold, padding rows holding zero weights): the cases run once more with
:data:`LEGACY` applied to every machine (:func:`legacy_mode`) and, with the keys issue 14
added dropped (:func:`drop_new_keys`), must equal them exactly.  :func:`overrides` applies
any other such changes (``tests/snapshots/prove_dnnsim_defaults.py``).
"""

from __future__ import annotations

import contextlib
import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
MACHINES = ("bit-tactical", "bit-tactical-tclp", "bit-tactical-tcle", "dadiannao", "ideal",
            "scnn", "systolic-os-32x32")
LEGACY = {"frontend.traversal": "row-major", "backend.quantisation": "per-tensor",
          "systolic.output_size": "exact", "frontend.fold_first_layer": False,
          "backend.idle_padding_rows": False, "backend.linear_columns": "windows",
          "frontend.group_mapping": "per-group"}
NEW_KEYS = ("traversal", "quantisation", "value_bits", "precision_file", "fraction_bits",
            "output_size", "hardware_digest", "fold_first_layer", "idle_padding_rows",
            "linear_columns", "group_mapping")
#: the changes applied to every machine a case builds (section.key -> value), whether the
#: sweep's reference machine takes them too and which the sweep's points name (:func:`overrides`)
_MODE: dict[str, Any] = {"changes": {}, "reference": False, "point_keys": ()}


@contextlib.contextmanager
def overrides(changes: dict[str, Any], reference: bool = True,
              point_keys: tuple[str, ...] = ()) -> Iterator[None]:
    """Run the cases with ``changes`` (``"section.key" -> value``) applied to every machine
    whose kind has the section: in the sweep, those of ``point_keys`` to every design point
    (they are then in its label), the others to its base machine and, with ``reference``, to
    its reference machine."""
    previous = dict(_MODE)
    _MODE.update(changes=dict(changes), reference=reference, point_keys=point_keys)
    try:
        yield
    finally:
        _MODE.update(previous)


def legacy_mode() -> contextlib.AbstractContextManager[None]:
    """Run the cases with :data:`LEGACY` applied to every machine as when the legacy files
    were written (the sweep's reference machine kept, its points naming the first two)."""
    return overrides(LEGACY, reference=False,
                     point_keys=("frontend.traversal", "backend.quantisation"))


def machine(source: Any) -> Any:
    """The machine a case names, with the changes of :func:`overrides` applied."""
    if not _MODE["changes"]:
        return source
    from accelsim.spec.hardware import load_hardware
    from accelsim.spec.sections import KIND_SECTIONS

    hw = load_hardware(source)
    takes = KIND_SECTIONS[hw.array.kind]
    return hw.replace(**{k: v for k, v in _MODE["changes"].items()
                         if k.split(".")[0] in takes})


def drop_new_keys(value: Any) -> Any:
    """The value without the keys issue 14 added (any key or CSV column containing a name
    of :data:`NEW_KEYS`)."""
    if isinstance(value, dict):
        return {k: drop_new_keys(v) for k, v in value.items()
                if not any(n in k for n in NEW_KEYS)}
    if isinstance(value, list):
        return [drop_new_keys(v) for v in value]
    return value


VOLATILE = {"finished_at", "worker", "host", "elapsed_s", "wall_s", "time_s", "seconds",
            "step_time_s", "epoch_time_s", "created_at", "path", "trace_path", "source_path"}


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def _synthetic(workdir: Path, name: str, **fields: Any) -> Path:
    """A synthetic trace of the uncalibrated generator (``profile=None``), which the
    snapshots were taken with."""
    from accelsim import api

    return api.synthetic_trace(workdir / f"{name}.trace", profile=None, **fields)


def case_simulate_machines(workdir: Path) -> Any:
    """A synthetic SWAT-U 90% ResNet-20/CIFAR trace on every built-in machine."""
    from accelsim import api

    path = _synthetic(workdir, "r20", model="resnet20", dataset="cifar10", method="swat-u",
                      sparsity=0.9, batch=1, seed=0)
    return {m: _scrub(api.simulate_trace(path, machine(m)).to_dict()) for m in MACHINES}


def case_simulate_variants(workdir: Path) -> Any:
    """digits-cnn AC/DC-profile trace on hardware variants (priorities, lookahead, memory)."""
    from accelsim import api
    from accelsim.spec.hardware import load_hardware

    path = _synthetic(workdir, "dc", model="digits-cnn", dataset="digits", method="acdc",
                      sparsity=0.8, batch=2, seed=1)
    base = load_hardware("bit-tactical")
    variants = {
        "most-flexible": base.replace(**{"frontend.priority": "most-flexible",
                                          "frontend.schedule": "weights"}),
        "T<4,6>": base.replace(**{"frontend.lookahead": 4, "frontend.lookaside": 6}),
        "dram": base.replace(**{"memory.kind": "dram"}),
        "tcle-x4": load_hardware("bit-tactical-tcle").replace(**{"array.columns": 4}),
    }
    out = {name: _scrub(api.simulate_trace(path, machine(hw)).to_dict())
           for name, hw in variants.items()}
    out["csv"] = api.simulate_trace(path, machine("bit-tactical-tclp")).to_csv()
    return out


def case_simulate_layer(workdir: Path) -> Any:
    """simulate_layer on seeded tensors, stride 2 and padding 1, three passes."""
    from accelsim import simulate_layer

    rng = np.random.default_rng(5)
    w = rng.standard_normal((8, 6, 3, 3)).astype(np.float32) * (rng.random((8, 6, 3, 3)) < 0.3)
    a = np.maximum(rng.standard_normal((2, 6, 9, 9)).astype(np.float32), 0)
    g = rng.standard_normal((2, 8, 5, 5)).astype(np.float32)
    out = {}
    for m in ("bit-tactical", "bit-tactical-tcle", "scnn"):
        rep = simulate_layer(w, a, output_grad=g, stride=2, padding=1, hardware=machine(m))
        out[m] = _scrub(rep.to_dict())
    return out


def case_flops(workdir: Path) -> Any:
    """Exact FLOPs of a synthetic trace and the spec accounting of ResNet-50."""
    from accelsim import api

    path = _synthetic(workdir, "f", model="resnet18", dataset="cifar10", method="swat-u",
                      sparsity=0.8, batch=1, seed=2)
    spec = api.flops_of_spec("resnet50", "imagenet", "swat-u", 0.8)
    return {"trace": _scrub(api.flops_of_trace(path).to_dict()),
            "spec": _scrub(spec.to_dict()),
            "inspect": _scrub(api.inspect_trace(path))}


def case_sweep_export(workdir: Path) -> Any:
    """A 4-point sweep over a synthetic digits-cnn workload, exported to CSV."""
    from accelsim.explore.load import load_sweep
    from accelsim.explore.run import run_sweep
    from accelsim.explore.spec import REFERENCE
    from accelsim.explore.store import export

    spec = {"grid": {"frontend.lookahead": [1, 2]},
            "points": [{"backend.kind": "bit-parallel"}, {"backend.kind": "tclp"}],
            "workloads": {"synthetic": [{"model": "digits-cnn", "dataset": "digits",
                                         "sparsity": 0.9, "profile": "none"}]}}
    changes = _MODE["changes"]
    for point in spec["points"]:
        point.update({k: v for k, v in changes.items() if k in _MODE["point_keys"]})
    if any(k not in _MODE["point_keys"] for k in changes):
        base = workdir / "base.toml"
        base.write_text(machine(None).to_toml(), encoding="utf-8")  # the default machine
        spec["base"] = {"hardware": str(base)}
    if changes and _MODE["reference"]:
        reference = workdir / "reference.toml"
        reference.write_text(machine(REFERENCE).to_toml(), encoding="utf-8")
        spec["reference"] = str(reference)
    store = workdir / "sweep.sqlite"
    run_sweep(load_sweep(spec, base_dir=workdir), store, workers=1, progress=False)
    out = export(store, workdir / "sweep.csv")
    with open(out, newline="", encoding="utf-8") as fh:
        rows = [_scrub(dict(r)) for r in csv.DictReader(fh)]
    rows.sort(key=lambda r: json.dumps(r, sort_keys=True))
    return rows


def _train(workdir: Path, method: str, epochs: int) -> Any:
    from accelsim import api
    from training.config import TrainConfig
    from training.loop import train

    config = TrainConfig(method=method, sparsity=0.8, model="digits-cnn", data="digits",
                         epochs=epochs, seed=0, trace_every=4, trace_samples=2,
                         max_steps_per_epoch=5)
    run = workdir / f"run-{method}"
    result = train(config, run, progress=False, log=None, threads=1)
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    sim = api.simulate_trace(result.traces[-1], machine("bit-tactical"))
    return {"metrics": _scrub(metrics), "traces": len(result.traces),
            "last_trace": _scrub(sim.to_dict())}


def case_training(workdir: Path) -> Any:
    """Short digits-cnn runs of SWAT-U, AC/DC, RigL and gradual magnitude pruning."""
    runs = {"swat-u": 2, "acdc": 4, "rigl": 2, "magnitude-gradual": 3}
    return {m: _train(workdir, m, epochs) for m, epochs in runs.items()}


CASES = {name[len("case_"):]: fn for name, fn in globals().items() if name.startswith("case_")}


def snapshot_path(name: str, legacy: bool = False) -> Path:
    return HERE / "legacy" / f"{name}.json" if legacy else HERE / f"{name}.json"


def normalise(value: Any, workdir: Path) -> Any:
    """The value as it reads back from JSON (tuples -> lists, keys -> str), with the
    temporary directory's path replaced by ``<tmp>``."""
    text = json.dumps(value).replace(str(workdir), "<tmp>")
    return json.loads(text)


def main(argv: list[str]) -> int:
    import tempfile

    if argv not in (["--write"], ["--write-legacy"]):
        print("usage: python -m tests.snapshots.cases --write | --write-legacy  (the legacy "
              "files only after a proof such as tests/snapshots/prove_issue13.py)",
              file=sys.stderr)
        return 2
    legacy = argv == ["--write-legacy"]
    names = sorted(p.stem for p in snapshot_path("x", legacy=True).parent.glob("*.json")) \
        if legacy else list(CASES)
    for name in names:
        with tempfile.TemporaryDirectory() as tmp, \
                (legacy_mode() if legacy else contextlib.nullcontext()):
            value = normalise(CASES[name](Path(tmp)), Path(tmp))
        snapshot_path(name, legacy).write_text(json.dumps(value, indent=1, sort_keys=True) + "\n")
        print("wrote", snapshot_path(name, legacy))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
