"""Snapshot tests: simulate JSON on every built-in machine and on hardware variants,
simulate_layer, FLOPs, a sweep export and short training runs equal the committed
outputs exactly (regenerate only on purpose: ``python -m tests.snapshots.cases --write``).

The legacy cases run the same entry points with the order and rules before issue 14
(``LEGACY``: row-major traversal, per-tensor quantisation, the systolic machine's exact output
size) and must equal the numbers committed before it (``tests/snapshots/legacy/``; the keys
issue 14 added are dropped on both sides)."""

from __future__ import annotations

import json

import pytest

from tests.snapshots.cases import CASES, drop_new_keys, legacy_mode, normalise, snapshot_path

LEGACY_CASES = sorted(p.stem for p in snapshot_path("x", legacy=True).parent.glob("*.json"))


@pytest.mark.parametrize("name", sorted(CASES))
def test_snapshot_unchanged(name, tmp_path):
    expected = json.loads(snapshot_path(name).read_text())
    assert normalise(CASES[name](tmp_path), tmp_path) == expected


@pytest.mark.parametrize("name", LEGACY_CASES)
def test_legacy_numbers_unchanged(name, tmp_path):
    expected = json.loads(snapshot_path(name, legacy=True).read_text())
    with legacy_mode():
        got = normalise(CASES[name](tmp_path), tmp_path)
    assert drop_new_keys(got) == drop_new_keys(expected)
