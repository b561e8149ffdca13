"""Proof that making ``[frontend] fold_first_layer`` and ``[backend] idle_padding_rows``
default to ``true`` (DNNsim's conventions, issue 14) changes no snapshot number but through
these two options: set back to ``false``, every case gives the committed snapshot.

``python -m tests.snapshots.prove_dnnsim_defaults [--ref COMMIT]`` runs every snapshot case
with both options ``false`` on every machine (:func:`tests.snapshots.cases.overrides`, the
sweep's base and reference machines included) and compares the result with the snapshot file
as committed at ``COMMIT`` (default :data:`BASE`, main before the change).  They must be equal
exactly, apart from

* the two keys themselves, which a hardware dict (and a sweep's CSV column
  ``section.key``) now shows because ``false`` is no longer their default: dropped;
* the hardware digests, which change with those keys: every digest of a machine computed
  during the run is replaced by the digest of the same machine without the two keys (the
  dict it had before), which must then equal the committed one like any other value.

Exit status 0 when the proof holds, 1 with the differing paths otherwise.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from accelsim.spec.hardware import Hardware, load_hardware
from tests.snapshots.cases import CASES, normalise, overrides, snapshot_path

REPO = Path(__file__).resolve().parents[2]
BASE = "61f6191"  # main before the two options became true by default
# linear_columns came later (prove_linear_columns.py): set back too, so the proof still runs
OPTIONS = {"frontend.fold_first_layer": False, "backend.idle_padding_rows": False,
           "backend.linear_columns": "windows"}
NAMES = {k.split(".")[1] for k in OPTIONS}


def _recording_digests(renamed: dict[str, str], options: dict[str, Any]) -> Any:
    """A :meth:`Hardware.digest` that records new digest -> digest without ``options``."""
    original = Hardware.digest

    def digest(self: Hardware) -> str:
        data = self.to_dict()
        for key in options:
            section, name = key.split(".")
            data.get(section, {}).pop(name, None)
        new = original(self)
        renamed[new] = original(load_hardware(data))
        return new

    return original, digest


def translate(value: Any, renamed: dict[str, str], top: bool = True,
              names: frozenset[str] | set[str] = NAMES) -> Any:
    """The value with the keys ``names`` dropped and digests renamed; a top-level list of
    rows (the sweep's CSV, sorted by its JSON) sorted again."""
    if isinstance(value, dict):
        return {k: translate(v, renamed, False, names) for k, v in value.items()
                if k.split(".")[-1] not in names}
    if isinstance(value, list):
        out = [translate(v, renamed, False, names) for v in value]
        if top and all(isinstance(v, dict) for v in out):
            out.sort(key=lambda r: json.dumps(r, sort_keys=True))
        return out
    if isinstance(value, str):
        return renamed.get(value, value)
    return value


def differences(old: Any, new: Any, path: str = "") -> list[str]:
    """Paths where ``old`` and ``new`` differ (leaf by leaf)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = [f"{path}/{k}: only in one" for k in set(old) ^ set(new)]
        for k in sorted(set(old) & set(new)):
            out += differences(old[k], new[k], f"{path}/{k}")
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [d for i, (o, n) in enumerate(zip(old, new, strict=True))
                for d in differences(o, n, f"{path}[{i}]")]
    return [] if old == new else [f"{path}: {old!r:.80} -> {new!r:.80}"]


def committed(name: str, ref: str) -> Any:
    rel = snapshot_path(name).relative_to(REPO).as_posix()
    text = subprocess.run(["git", "show", f"{ref}:{rel}"], cwd=REPO, check=True,
                          capture_output=True, text=True).stdout
    return json.loads(text)


def main(argv: list[str], options: dict[str, Any] | None = None, base: str = BASE) -> int:
    """Run the proof with ``options`` (default :data:`OPTIONS`) against the snapshots
    committed at ``--ref`` (default ``base``); -> the exit status."""
    options = OPTIONS if options is None else options
    names = {k.split(".")[1] for k in options}
    ref = argv[1] if argv[:1] == ["--ref"] and len(argv) == 2 else base
    bad = 0
    for name in sorted(CASES):
        renamed: dict[str, str] = {}
        original, recording = _recording_digests(renamed, options)
        Hardware.digest = recording  # type: ignore[method-assign]
        try:
            with tempfile.TemporaryDirectory() as tmp, overrides(options):
                got = normalise(CASES[name](Path(tmp)), Path(tmp))
        finally:
            Hardware.digest = original  # type: ignore[method-assign]
        old = translate(committed(name, ref), {}, names=names)
        diff = differences(old, translate(got, renamed, names=names))
        used = sum(json.dumps(got).count(d) for d in renamed)
        print(f"{name}: {'equal' if not diff else f'{len(diff)} differences'} "
              f"({used} digest occurrences renamed, {len(set(renamed.values()))} machines)")
        for line in diff[:20]:
            print("   ", line)
        bad += bool(diff)
    print("proof holds" if not bad else f"proof fails in {bad} cases")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
