"""The dependency rules of the architecture (README, "Architecture"), checked on the source.

An AST scan of every .py file in accelsim/, training/, plots/ and workloads/:

(a) the simulator core (accelsim/ except accelsim/cli and accelsim/gpu) never imports
    training, plots, workloads, torch or matplotlib -- not even inside a function;
(b) inside accelsim, imports go downward only, along :data:`LAYERS`;
(c) plots and training never import each other;
(d) imports inside functions only for the optional dependencies (:data:`OPTIONAL`); the CLI
    may also import the torch rooms (:data:`TORCH_ROOMS`) inside a function, so that commands
    that do not train or derive tables never load torch.

Each rule is also fed a synthetic bad import to show that it really fails.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCANNED = ("accelsim", "training", "plots", "workloads")

LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors",),
    ("fileio", "numeric", "rundir"),
    ("spec",),
    ("networks",),
    ("trace",),
    ("measured",),
    ("lowering",),
    ("kernels",),
    ("pipeline",),
    ("arrays",),
    ("yardstick",),
    ("simulate",),
    ("flops",),
    ("api",),
    ("explore",),
    ("validate",),
    ("gpu",),
    ("cli",),
    ("__main__",),
)
"""The rooms of accelsim, lowest first: a room imports only rooms of lower layers (and
itself).  ``accelsim/__init__.py`` loads its public names lazily and may name any room."""

FORBIDDEN_IN_CORE = {"training", "plots", "workloads", "torch", "matplotlib"}
OPTIONAL = {"torch", "dask", "distributed", "triton", "pyarrow", "cupy"}
TORCH_ROOMS = {"training", "workloads"}
OUTSIDE_CORE = {"cli", "gpu", "__main__"}

LAYER_OF = {room: i for i, rooms in enumerate(LAYERS) for room in rooms}


@dataclass(frozen=True)
class Import:
    module: str          # the imported module, absolute ("accelsim.spec.hardware")
    names: tuple[str, ...]
    line: int
    in_function: bool


def _imports(tree: ast.AST) -> Iterator[Import]:
    def visit(node: ast.AST, in_function: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef
                                               | ast.Lambda)
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield Import(alias.name, (), child.lineno, in_function)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                yield Import(child.module, tuple(a.name for a in child.names), child.lineno,
                             in_function)
            yield from visit(child, inner)
    yield from visit(tree, False)


def room_of(path: str) -> str | None:
    """The accelsim room of a repository-relative path ("accelsim/spec/x.py" -> "spec");
    None outside accelsim, "" for the package root."""
    parts = Path(path).with_suffix("").parts
    if parts[0] != "accelsim":
        return None
    return "" if parts[1:] in ((), ("__init__",)) else parts[1]


def _targets(imp: Import) -> list[str]:
    """The accelsim rooms an import reaches ("" for the package root)."""
    parts = imp.module.split(".")
    if parts[0] != "accelsim":
        return []
    if len(parts) > 1:
        return [parts[1]]
    rooms = [n for n in imp.names if n in LAYER_OF]
    return rooms or [""]


def violations(path: str, source: str) -> list[str]:
    """Every broken rule of one file (repository-relative ``path``), one line each."""
    out: list[str] = []
    room = room_of(path)
    core = room is not None and room not in OUTSIDE_CORE
    top = path.split("/", 1)[0]
    for imp in _imports(ast.parse(source, path)):
        first = imp.module.split(".")[0]
        where = f"{path}:{imp.line}: import {imp.module}"
        if core and first in FORBIDDEN_IN_CORE:
            out.append(f"{where}: the core never imports {first} (rule a)")
        if room is not None:
            for target in _targets(imp):
                if room and target and target != room and \
                        LAYER_OF.get(target, -1) >= LAYER_OF.get(room, len(LAYERS)):
                    out.append(f"{where}: {room} may not import {target}, which is not in a "
                               "lower layer (rule b)")
        if {top, first} == {"plots", "training"}:
            out.append(f"{where}: plots and training never import each other (rule c)")
        lazy_ok = first in OPTIONAL or (room == "cli" and first in TORCH_ROOMS)
        if imp.in_function and not lazy_ok:
            out.append(f"{where}: imports inside functions only for optional dependencies "
                       f"{sorted(OPTIONAL)} (rule d)")
    return out


def _sources() -> list[str]:
    files = []
    for top in SCANNED:
        files += [str(p.relative_to(REPO)) for p in sorted((REPO / top).rglob("*.py"))]
    return files


def test_every_room_has_a_layer():
    rooms = {room_of(f) for f in _sources()} - {None, ""}
    assert rooms <= set(LAYER_OF), f"rooms without a layer: {sorted(rooms - set(LAYER_OF))}"


@pytest.mark.parametrize("path", _sources())
def test_dependency_rules(path):
    assert violations(path, (REPO / path).read_text(encoding="utf-8")) == []


def test_array_models_in_the_registry_live_in_the_arrays_room():
    from accelsim.arrays.registry import MODELS

    for kind, target in MODELS.items():
        assert target.startswith("accelsim.arrays."), (kind, target)


# ---- each rule really fails -----------------------------------------------------------------
@pytest.mark.parametrize("path, source, rule", [
    ("accelsim/simulate.py", "import torch\n", "rule a"),
    ("accelsim/spec/x.py", "def f():\n    import torch\n", "rule a"),
    ("accelsim/arrays/x.py", "from plots.figures import plot\n", "rule a"),
    ("accelsim/api.py", "from workloads.tables import model_layer_table\n", "rule a"),
    ("accelsim/spec/x.py", "from accelsim.arrays.registry import model_for\n", "rule b"),
    ("accelsim/lowering/x.py", "from accelsim import simulate\n", "rule b"),
    ("accelsim/errors.py", "import accelsim.fileio\n", "rule b"),
    ("plots/x.py", "from training.loop import train\n", "rule c"),
    ("training/x.py", "import plots\n", "rule c"),
    ("workloads/x.py", "def f():\n    import json\n", "rule d"),
    ("accelsim/cli.py", "def f():\n    from accelsim import api\n", "rule d"),
])
def test_checker_flags_a_bad_import(path, source, rule):
    found = violations(path, source)
    assert any(rule in v for v in found), found


@pytest.mark.parametrize("path, source", [
    ("accelsim/arrays/x.py", "from accelsim.spec.hardware import Hardware\n"),
    ("accelsim/api.py", "from accelsim.simulate import simulate\n"),
    ("accelsim/cli.py", "import plots\nfrom training.loop import train\n"),
    ("accelsim/explore/x.py", "def f():\n    import pyarrow\n"),
    ("accelsim/arrays/x.py", "from accelsim.arrays.base import ArrayModel\n"),
])
def test_checker_passes_a_good_import(path, source):
    assert violations(path, source) == []


def test_importing_the_api_loads_no_numba_simpy_or_torch():
    code = ("import sys, accelsim, accelsim.gpu, accelsim.api, accelsim.trace, "
            "accelsim.validate, accelsim.explore.run\n"
            "from accelsim import simulate, load_hardware, open_trace, __version__\n"
            "loaded = [m for m in ('numba', 'simpy', 'torch', 'matplotlib', 'training', "
            "'plots', 'workloads') if m in sys.modules]\n"
            "assert not loaded, loaded\n"
            "assert callable(simulate) and simulate.__module__ == 'accelsim.simulate'\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
