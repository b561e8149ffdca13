"""Long fuzz run of the trace reader: N mutants of small valid traces, none may traceback.

    .venv/bin/python benchmarks/fuzz_traces.py [--mutants 5000] [--seed 0]
        [--out benchmarks/results/fuzz-traces.json] [--only INDEX]

Each mutant is one of: a flipped bit, a truncation or an overwritten byte range (anywhere,
or in the zip's headers and directory), a manifest field set to a wrong type, a negative,
huge or NaN number, a list, or deleted, or a tensor member replaced by an npy array of
another dtype and size or by random bytes.  Originals rotate over the fixed16, float16 and
float32 encodings.  The oracle is tests/trace/mutants.py's: a one-line TraceError naming
the file, or exactly the original result (free manifest fields may change it).  Mutant
``i`` comes from its own generator seeded with (seed, i), so ``--only i`` replays it.
The result records counts per mutation kind and outcome, every finding, and the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

from _common import machine, write_json_atomic  # noqa: E402

from tests.trace import mutants  # noqa: E402

ENCODINGS = ("fixed16", "float16", "float32")
KINDS = ("flip", "truncate", "overwrite", "manifest", "member")
KIND_WEIGHTS = (0.35, 0.05, 0.15, 0.30, 0.15)
DTYPES = ("u1", "i1", "i2", "<f2", "<f4", "<f8", "i8", "?", "c8", ">i2", ">f4")
FILLS = (0, 1, -1, 255, 32767, -32768, 1e30, np.nan, np.inf)


def _position(rng: np.random.Generator, original: dict[str, Any]) -> int:
    if rng.random() < 0.5:
        return int(rng.integers(len(original["data"])))
    return int(original["offsets"][rng.integers(len(original["offsets"]))])


def make_mutant(rng: np.random.Generator, original: dict[str, Any]) -> tuple[str, bytes, bool, str]:
    """(kind, mutant bytes, free edit?, description) of one random mutation."""
    data = original["data"]
    kind = KINDS[rng.choice(len(KINDS), p=KIND_WEIGHTS)]
    if kind == "flip":
        pos, bit = _position(rng, original), int(rng.integers(8))
        return kind, mutants.flip_bit(data, pos, bit), False, f"bit {bit} of byte {pos}"
    if kind == "truncate":
        pos = int(rng.integers(len(data)))
        return kind, mutants.truncate(data, pos), False, f"to {pos} bytes"
    if kind == "overwrite":
        pos, n = _position(rng, original), int(rng.integers(1, 65))
        return kind, mutants.overwrite(data, pos, rng.bytes(n)), False, f"{n} bytes at {pos}"
    if kind == "manifest":
        path = original["paths"][rng.integers(len(original["paths"]))]
        action = ("set", "set", "delete", "wrap")[rng.integers(4)]
        value = mutants.NASTY[rng.integers(len(mutants.NASTY))]
        return (kind, mutants.edit_manifest(data, path, action, value),
                mutants.is_free(path, action), f"{action} {list(path)} = {value!r}")
    member = original["members"][rng.integers(len(original["members"]))]
    if rng.random() < 0.6:
        dtype, count = np.dtype(DTYPES[rng.integers(len(DTYPES))]), int(rng.integers(300))
        fill = FILLS[rng.integers(len(FILLS))]
        with np.errstate(all="ignore"):
            payload = mutants.npy_bytes(np.full(count, fill).astype(dtype))
        what = f"{member} = {count} x {dtype} {fill}"
    else:
        payload = rng.bytes(int(rng.integers(200)))
        what = f"{member} = {len(payload)} random bytes"
    return kind, mutants.replace_member(data, member, payload), False, what


def originals(directory: Path) -> list[dict[str, Any]]:
    out = []
    for encoding in ENCODINGS:
        path = mutants.write_original(directory / f"original-{encoding}.trace", encoding)
        data = path.read_bytes()
        out.append({"encoding": encoding, "data": data, "result": mutants.outcome(path)[1],
                    "offsets": mutants.interesting_offsets(data),
                    "paths": mutants.manifest_paths(data),
                    "members": mutants.tensor_members(data)})
    return out


def run(count: int, seed: int, only: int | None = None) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    findings = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        bases = originals(Path(tmp))
        target = Path(tmp) / "mutant.trace"
        for i in range(count) if only is None else [only]:
            rng = np.random.default_rng([seed, i])
            original = bases[i % len(bases)]
            kind, data, free, what = make_mutant(rng, original)
            target.write_bytes(data)
            try:
                verdict = mutants.judge(original["result"], target, free)
            except Exception as exc:  # a finding: anything but the documented outcomes
                verdict = "FINDING"
                findings.append({"index": i, "encoding": original["encoding"], "kind": kind,
                                 "mutation": what, "error": f"{type(exc).__name__}: {exc}",
                                 "where": traceback.format_exc().strip().splitlines()[-3:]})
            counts[f"{kind}/{verdict}"] += 1
    wall = time.perf_counter() - start
    return {"mutants": count if only is None else 1, "seed": seed, "wall_s": round(wall, 2),
            "mutants_per_s": round((count if only is None else 1) / wall, 1),
            "outcomes": dict(sorted(counts.items())), "findings": findings}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutants", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", type=int, default=None, help="replay one mutant by index")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/fuzz-traces.json"))
    args = parser.parse_args()
    result = run(args.mutants, args.seed, args.only)
    result["machine"] = machine(nproc=len(os.sched_getaffinity(0)), platform=platform.platform())
    result["command"] = " ".join(["python", "benchmarks/fuzz_traces.py", *sys.argv[1:]])
    print(f"{result['mutants']} mutants in {result['wall_s']} s: {result['outcomes']}")
    for f in result["findings"][:20]:
        print(f"FINDING #{f['index']} {f['kind']} {f['mutation']}: {f['error']}")
    if args.only is None:
        write_json_atomic(args.out, result)
        print(f"wrote {args.out}")
    return 1 if result["findings"] else 0


if __name__ == "__main__":
    sys.exit(main())
