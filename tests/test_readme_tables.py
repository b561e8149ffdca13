"""The README's tables of committed benchmarks are generated from them: the built-in machines
(``bench_machines.py --table``), SWAT Table 6, explained (``bench_table6.py --table``) and the
speed figures (``bench_speed.py --table``)."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def _bench(name: str) -> Any:
    """The benchmark script ``benchmarks/<name>.py`` as a module."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(REPO / "benchmarks"))


def _result(name: str) -> dict[str, Any]:
    return json.loads((REPO / "benchmarks" / "results" / f"{name}.json").read_text())


def test_machines_table_is_the_committed_benchmark():
    table = _bench("bench_machines").render_table(_result("machines"))
    assert table in (REPO / "README.md").read_text()


def test_table6_is_the_committed_benchmark():
    table = _bench("bench_table6").render_table(_result("table6"))
    assert table in (REPO / "README.md").read_text()


def test_speed_tables_are_the_committed_benchmark():
    table = _bench("speed_table").render_table(_result("speed"))
    assert table in (REPO / "README.md").read_text()
