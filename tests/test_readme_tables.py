"""The README's table of the built-in machines is generated from the committed benchmark."""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_machines_table_is_the_committed_benchmark():
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from bench_machines import render_table
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    data = json.loads((REPO / "benchmarks" / "results" / "machines.json").read_text())
    assert render_table(data) in (REPO / "README.md").read_text()
