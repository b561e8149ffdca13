"""Proof that the sweep export of issue 13 (items 5 and 6) changes no old number: the
``sweep_export`` snapshot (and its legacy twin) as committed, against the export this tree
writes, row by row.

``python -m tests.snapshots.prove_sweep_export`` runs the case in a temporary directory and
checks, for every committed row (matched by hardware digest, layer and pass):

* every old column is in the new row with the same value, except
* ``speedup`` (over the design's own dense twin) is the new ``speedup_vs_own_dense``; the
  new ``speedup`` is against the sweep's reference machine (``reference``), and
  ``energy_efficiency`` too (the old one, over the own dense twin, is
  ``base_energy_pj / energy_pj`` of the same row, which is unchanged);
* ``energy_pj`` of a ``*total*`` row is now :func:`accelsim.yardstick.pass_figures`' energy
  (the sum of the summed parts, exactly what ``accelsim simulate`` reports) rather than the
  running sum of the layers' energies: the two may differ in the last bits (association
  order), never by more than :data:`ULPS` relative; counted and listed;
* the new rows that match no old row are the reference machine's (label ``... (reference)``),
  added as one more point of the sweep;
* every other new column is an addition (listed).

Exit status 0 when the proof holds, 1 with the offending rows otherwise.  It only reads the
snapshot files; regenerating them stays ``python -m tests.snapshots.cases --write``.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.snapshots.cases import CASES, HERE, drop_new_keys, legacy_mode, normalise, snapshot_path

RENAMED = {"speedup": "speedup_vs_own_dense"}
REMEANT = {"energy_efficiency"}   # now against the reference machine
REASSOCIATED = {"energy_pj"}      # totals: the sum of the parts, as reports make it
ULPS = 1e-15                      # relative


IDENTITY = ("trace", "layer", "pass")


def _key(row: dict[str, Any]) -> tuple[str, ...]:
    """A row's point, layer and pass: the hardware digest, or (legacy files, which drop
    it) every hardware parameter."""
    hw = [row["hardware_digest"]] if "hardware_digest" in row else [
        f"{k}={row[k]}" for k in sorted(row) if "." in k]
    return (*hw, *(str(row.get(k)) for k in IDENTITY))


def compare(old_rows: list[dict[str, Any]], new_rows: list[dict[str, Any]]
            ) -> tuple[list[str], set[str], int, list[str]]:
    """(problems, added columns, new rows that are the reference's, total energies that
    differ in the last bits)."""
    bad: list[str] = []
    reassociated: list[str] = []
    new = {_key(r): r for r in new_rows}
    for old in old_rows:
        got = new.pop(_key(old), None)
        if got is None:
            bad.append(f"{_key(old)}: missing in the new export")
            continue
        for k, v in old.items():
            if k in REMEANT:
                continue
            mine = got.get(RENAMED.get(k, k))
            if mine == v:
                continue
            if k in REASSOCIATED and old["layer"] == "*total*" and _close(v, mine):
                reassociated.append(f"{_key(old)[-2:]} {k}: {v} -> {mine}")
                continue
            bad.append(f"{_key(old)} {k}: {v!r} -> {mine!r}")
    extra = [r for r in new.values() if not str(r.get("label", "")).endswith("(reference)")]
    bad += [f"{_key(r)}: a new row that is not the reference's" for r in extra]
    added = set(new_rows[0]) - set(old_rows[0]) - set(RENAMED.values()) if new_rows else set()
    return bad, added, len(new) - len(extra), reassociated


def _close(a: Any, b: Any) -> bool:
    try:
        x, y = float(a), float(b)
    except (TypeError, ValueError):
        return False
    return abs(x - y) <= ULPS * max(abs(x), abs(y))


def main() -> int:
    failed = False
    for legacy in (False, True):
        path = snapshot_path("sweep_export", legacy=legacy)
        old = json.loads(path.read_text())
        with tempfile.TemporaryDirectory() as tmp:
            if legacy:
                with legacy_mode():
                    new = normalise(CASES["sweep_export"](Path(tmp)), Path(tmp))
                old, new = drop_new_keys(old), drop_new_keys(new)
            else:
                new = normalise(CASES["sweep_export"](Path(tmp)), Path(tmp))
        bad, added, ref_rows, reassociated = compare(old, new)
        print(f"{path.relative_to(HERE.parents[1])}: {len(old)} old rows, "
              f"{len(old) - len([b for b in bad if 'missing' in b])} found with every old "
              f"number ({', '.join(f'{a} -> {b}' for a, b in RENAMED.items())}), "
              f"{ref_rows} rows of the reference point added, added columns: "
              f"{', '.join(sorted(added)) or '(none)'}; {len(reassociated)} total energies "
              f"summed from their parts (within {ULPS:g} relative)")
        for line in reassociated:
            print("  last bits:", line)
        for line in bad[:40]:
            print("CHANGED", line)
        failed |= bool(bad)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
