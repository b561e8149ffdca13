"""Property test: no byte, manifest or member mutation of a trace gives a traceback.

Each mutant must read as a one-line TraceError naming the file, or exactly as the
original (free manifest fields may change the result; see tests/trace/mutants.py).
Bounded and derandomized so it runs in seconds; ``ACCELSIM_FUZZ_EXAMPLES=N`` raises the
number of examples per strategy, and ``benchmarks/fuzz_traces.py`` is the long run.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.trace import mutants

EXAMPLES = int(os.environ.get("ACCELSIM_FUZZ_EXAMPLES", "60"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


class _Original(dict):
    def __repr__(self) -> str:  # hypothesis prints the arguments of a failing example
        return "<original trace>"


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz")
    path = mutants.write_original(d / "original.trace")
    data = path.read_bytes()
    return _Original(dir=d, data=data, result=mutants.outcome(path)[1],
                     offsets=mutants.interesting_offsets(data),
                     paths=mutants.manifest_paths(data), members=mutants.tensor_members(data))


def _judge(original, data: bytes, free: bool = False) -> str:
    path = original["dir"] / "mutant.trace"
    path.write_bytes(data)
    return mutants.judge(original["result"], path, free)


@SETTINGS
@given(data=st.data())
def test_byte_mutations(original, data):
    raw = original["data"]
    position = data.draw(st.one_of(st.integers(0, len(raw) - 1),
                                   st.sampled_from(original["offsets"])), label="position")
    op = data.draw(st.sampled_from(["flip", "truncate", "overwrite"]), label="op")
    if op == "flip":
        mutant = mutants.flip_bit(raw, position, data.draw(st.integers(0, 7), label="bit"))
    elif op == "truncate":
        mutant = mutants.truncate(raw, position)
    else:
        mutant = mutants.overwrite(raw, position, data.draw(st.binary(min_size=1, max_size=64)))
    assert _judge(original, mutant) in ("error", "identical")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2 ** 70), 2 ** 70) | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                max_size=3),
    max_leaves=5)


@SETTINGS
@given(data=st.data())
def test_manifest_mutations(original, data):
    path = data.draw(st.sampled_from(original["paths"]), label="path")
    action = data.draw(st.sampled_from(["set", "set", "delete", "wrap"]), label="action")
    value = data.draw(st.one_of(st.sampled_from(mutants.NASTY), json_values), label="value")
    mutant = mutants.edit_manifest(original["data"], path, action, value)
    assert _judge(original, mutant, free=mutants.is_free(path, action)) in ("error", "identical",
                                                                    "changed")


dtypes = st.sampled_from(["u1", "i1", "i2", "<f2", "<f4", "<f8", "i8", "?", "c8", ">i2", ">f4"])


@SETTINGS
@given(data=st.data())
def test_member_replacements(original, data):
    member = data.draw(st.sampled_from(original["members"]), label="member")
    if data.draw(st.booleans(), label="npy"):
        dtype = np.dtype(data.draw(dtypes, label="dtype"))
        count = data.draw(st.integers(0, 300), label="count")
        fill = data.draw(st.sampled_from([0, 1, -1, 255, 32767, -32768, 1e30, np.nan, np.inf]))
        with np.errstate(all="ignore"):
            array = np.full(count, fill).astype(dtype)
        payload = mutants.npy_bytes(array)
    else:
        payload = data.draw(st.binary(max_size=200), label="payload")
    assert _judge(original, mutants.replace_member(original["data"], member, payload)) in (
        "error", "identical")
