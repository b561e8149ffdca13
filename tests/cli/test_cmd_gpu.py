"""gpu-bench on a machine without a GPU: argument checks come first, then one line."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("argv, words", [
    (["gpu-bench", "--out", "x.json"], "TRACE_OR_RUN_DIR or --synthetic"),
    (["gpu-bench", "--synthetic", "--passes", "sideways", "--out", "x.json"],
     "--passes: unknown sideways"),
    (["gpu-bench", "--synthetic", "--baselines", "fast", "--out", "x.json"],
     "--baselines: unknown fast"),
])
def test_bad_arguments_are_one_line(cli, argv, words):
    code, _, err = cli(*argv)
    assert code == 2 and words in err and err.count("\n") == 1


def test_dashed_passes_are_accepted(cli, monkeypatch):
    """Without a GPU and without the interpreter opted in, gpu-bench stops at the device check
    (after the passes were parsed).  tests/gpu/conftest.py opts the whole session into the
    interpreter on a CPU machine, so take that back here: a full-size synthetic sweep through
    the interpreter would run for hours."""
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    code, _, err = cli("gpu-bench", "--synthetic", "--passes", "backward-input", "--out", "x.json")
    assert code == 2 and "no CUDA GPU available" in err and "unknown" not in err
