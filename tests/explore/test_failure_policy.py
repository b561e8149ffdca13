"""One failure policy for every sweep executor: a point that raises -- an AccelsimError or any
other exception -- is recorded as failed and the sweep goes on (accelsim.explore.executors)."""

from __future__ import annotations

from concurrent.futures.process import BrokenProcessPool

import pytest

from accelsim.explore import executors
from accelsim.explore.load import load_sweep
from accelsim.explore.run import run_sweep
from accelsim.explore.spec import SweepError
from accelsim.explore.store import open_store

SPEC = {"grid": {"frontend.lookahead": [1, 2]},
        "workloads": {"synthetic": [{"model": "digits-cnn", "dataset": "digits"}]},
        "passes": ["forward"]}


@pytest.mark.parametrize("error", [RuntimeError("kernel blew up"), ZeroDivisionError("0")])
def test_inline_records_a_failed_point_and_goes_on(tmp_path, monkeypatch, error):
    real = executors.simulate_operands

    def flaky(geometry, operands, hw, passes):
        if hw.frontend.kind == "tcl" and hw.frontend.lookahead == 2:
            raise error   # not the reference machine (dadiannao: a dense front end)
        return real(geometry, operands, hw, passes)

    monkeypatch.setattr(executors, "simulate_operands", flaky)
    result = run_sweep(load_sweep(SPEC), tmp_path / "r.sqlite", workers=1, progress=False)
    assert result.computed == 2 and len(result.failed) == 1   # lookahead 1 and the reference
    _, params, message = result.failed[0]
    assert params == {"frontend.lookahead": 2} and type(error).__name__ in message
    with open_store(tmp_path / "r.sqlite") as store:
        assert len(store.failures()) == 1 and len(store.done()) == 2


def test_a_dead_pool_stops_the_sweep():
    def broken():
        raise BrokenProcessPool("gone")

    with pytest.raises(SweepError, match="worker process died"):
        executors.outcome(None, broken)
