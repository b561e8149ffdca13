"""Snapshot tests: simulate JSON on every built-in machine and on hardware variants,
simulate_layer, FLOPs, a sweep export and short training runs equal the committed
outputs exactly (regenerate only on purpose: ``python -m tests.snapshots.cases --write``)."""

from __future__ import annotations

import json

import pytest

from tests.snapshots.cases import CASES, normalise, snapshot_path


@pytest.mark.parametrize("name", sorted(CASES))
def test_snapshot_unchanged(name, tmp_path):
    expected = json.loads(snapshot_path(name).read_text())
    assert normalise(CASES[name](tmp_path), tmp_path) == expected
