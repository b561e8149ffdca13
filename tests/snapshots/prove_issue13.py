"""Proof that the snapshots regenerated for issue 13 (one yardstick) change no old number
except the energies the new energy model re-prices.

``python -m tests.snapshots.prove_issue13 [--ref COMMIT]`` compares every snapshot file
(``tests/snapshots/*.json`` and ``legacy/*.json``) as committed at ``COMMIT`` (default: the
branch point of issue 13) with the file in the working tree, leaf by leaf:

* a pass's old ``speedup`` (over its own dense twin) is the new ``speedup_vs_own_dense``,
  exactly; on the default machine (``bit-tactical``, whose dense twin is the reference
  ``dadiannao``) it is also the new ``speedup``, exactly;
* the energies (``energy_pj``, ``base_energy_pj``, ``energy_efficiency``) are re-priced by
  the one energy model and the technology table (issue 13, item 2), and the hardware's
  ``[energy]`` section is now ``technology = "45nm"`` (item 3), which changes the hardware
  digests; these leaves may differ, and only these;
* every other old leaf is in the new file with the same value; anything else new is an
  addition (listed).

Exit status 0 when the proof holds, 1 with the offending paths otherwise.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
BASE = "cc8aa97"  # main when issue 13 started
REPRICED = {"energy_pj", "base_energy_pj", "energy_efficiency", "hardware_digest"}
RETIRED_HW = {"mac_pj_per_bit", "buffer_read_pj_per_bit", "buffer_write_pj_per_bit",
              "dram_pj_per_bit", "metadata_pj_per_bit"}


def _is_pass(d: dict) -> bool:
    return "compute_cycles" in d and "base_cycles" in d


def _csv(text: str) -> list[dict[str, str]] | None:
    if not isinstance(text, str) or not text.startswith("layer,pass,"):
        return None
    return list(csv.DictReader(io.StringIO(text)))


class Proof:
    def __init__(self) -> None:
        self.bad: list[str] = []
        self.added: set[str] = set()
        self.repriced = 0
        self.same = 0
        self.default_speedups = 0

    def leaf(self, path: str, key: str, old: Any, new: Any) -> None:
        if old == new:
            self.same += 1
        elif key in REPRICED or key.startswith("energy.") or "energy" in path.split("/")[-2:-1]:
            self.repriced += 1
        else:
            self.bad.append(f"{path}: {old!r} -> {new!r}")

    def walk(self, old: Any, new: Any, path: str, machine: str = "") -> None:
        if isinstance(old, str) and _csv(old) is not None and isinstance(new, str):
            self.walk(_csv(old), _csv(new), path + "<csv>", machine)
            return
        if isinstance(old, list) and isinstance(new, list):
            if len(old) != len(new):
                self.bad.append(f"{path}: {len(old)} items -> {len(new)}")
                return
            if old and all(_is_row(r) for r in old + new):
                old, new = _sorted_rows(old, new)
            for i, (o, n) in enumerate(zip(old, new, strict=True)):
                self.walk(o, n, f"{path}[{i}]", machine)
            return
        if isinstance(old, dict) and isinstance(new, dict):
            self.walk_dict(old, new, path, machine)
            return
        key = path.rsplit("/", 1)[-1]
        self.leaf(path, key, old, new)

    def walk_dict(self, old: dict, new: dict, path: str, machine: str) -> None:
        figures = _is_pass(old) and "speedup_vs_own_dense" in new
        for k, o in old.items():
            sub = f"{path}/{k}"
            if figures and k == "speedup":
                self.leaf(sub, "speedup_vs_own_dense", _num(o), _num(new["speedup_vs_own_dense"]))
                if machine == "bit-tactical":
                    self.default_speedups += 1
                    if _num(o) != _num(new["speedup"]):
                        self.bad.append(f"{sub}: default machine speedup {o} -> {new['speedup']}")
                continue
            if k in RETIRED_HW or k.split(".")[-1] in RETIRED_HW:
                self.repriced += 1  # the [energy] per-bit keys moved to the technology table
                continue
            if k not in new:
                self.bad.append(f"{sub}: missing in the new file")
                continue
            self.walk(o, new[k], sub, k if k in MACHINES else machine)
        renamed = {"speedup_vs_own_dense"} if figures else set()
        for k in set(new) - set(old) - renamed:
            self.added.add(k)


def _is_row(r: Any) -> bool:
    """A flat result row (a CSV line or a store row): a dict of scalars with a pass."""
    return isinstance(r, dict) and "pass" in r and not any(isinstance(v, dict | list)
                                                           for v in r.values())


def _sorted_rows(old: list[dict], new: list[dict]) -> tuple[list[dict], list[dict]]:
    """Both row lists in the order of the keys they share that no rule changes (the rows
    were sorted by their text, which re-priced energies reorder)."""
    keep = [k for k in old[0] if k in new[0] and k not in REPRICED and k != "speedup"
            and "energy" not in k]

    def ident(r: dict) -> str:
        return json.dumps([str(r.get(k)) for k in keep])

    return sorted(old, key=ident), sorted(new, key=ident)


def _num(v: Any) -> Any:
    try:
        return float(v)
    except (TypeError, ValueError):
        return v


MACHINES = {"bit-tactical", "bit-tactical-tclp", "bit-tactical-tcle", "dadiannao", "ideal",
            "scnn", "systolic-os-32x32"}


def _old(ref: str, path: Path) -> Any:
    rel = path.relative_to(REPO).as_posix()
    text = subprocess.run(["git", "show", f"{ref}:{rel}"], cwd=REPO, check=True,
                          capture_output=True, text=True).stdout
    return json.loads(text)


def prove(ref: str = BASE) -> Proof:
    """Compare every snapshot file at ``ref`` with the working tree's."""
    proof = Proof()
    for path in sorted(HERE.glob("*.json")) + sorted((HERE / "legacy").glob("*.json")):
        name = path.relative_to(HERE).as_posix()
        machine = "bit-tactical" if path.stem in ("training",) else ""
        proof.walk(_old(ref, path), json.loads(path.read_text()), name, machine)
    return proof


def main(argv: list[str]) -> int:
    ref = argv[argv.index("--ref") + 1] if "--ref" in argv else BASE
    proof = prove(ref)
    print(f"{proof.same} old leaves unchanged ({proof.default_speedups} speedups of the default "
          f"machine equal to its new speedup), {proof.repriced} energy leaves re-priced, "
          f"added keys: {', '.join(sorted(proof.added)) or '(none)'}")
    for line in proof.bad[:50]:
        print("CHANGED", line)
    return 1 if proof.bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
