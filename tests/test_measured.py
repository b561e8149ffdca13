"""GPU results files: a pass may be spelled with a hyphen ("backward-input", as figures
print it) or an underscore ("backward_input", as traces and the simulator name it); both
read the same, and anything else is a one-line error naming the record."""

from __future__ import annotations

import json

import pytest

from accelsim import api
from accelsim.errors import ResultsError
from accelsim.measured import load_gpu_results, pass_name
from accelsim.validate import validate

SPEEDUPS = {("conv2", "forward"): 1.8, ("conv2", "backward_input"): 1.2,
            ("conv2", "backward_weight"): 1.3}


def _minimal(path, spell):
    path.write_text(json.dumps({"layers": [{"layer": k[0], "pass": spell(k[1]), "speedup": v}
                                           for k, v in SPEEDUPS.items()]}))
    return path


def _bench(path, spell):
    rows = [{"layer": k[0], "pass": spell(k[1]),
             "speedup": {"ours_total_vs_dense_fp32": v, "ours_total_vs_dense_tf32": v / 2}}
            for k, v in SPEEDUPS.items()]
    path.write_text(json.dumps({"rows": rows, "layers": [
        {"layer": r["layer"], "pass": r["pass"], "speedup": r["speedup"][
            "ours_total_vs_dense_fp32"]} for r in rows]}))
    return path


@pytest.mark.parametrize("spell", [str, lambda p: p.replace("_", "-"),
                                   lambda p: p.replace("_", "-").upper()])
def test_both_spellings_read_the_same(tmp_path, spell):
    assert load_gpu_results(_minimal(tmp_path / "m.json", spell)).speedups == SPEEDUPS
    bench = _bench(tmp_path / "b.json", spell)
    assert load_gpu_results(bench).speedups == SPEEDUPS
    assert load_gpu_results(bench, baseline="dense_tf32").speedups == {
        k: v / 2 for k, v in SPEEDUPS.items()}


def test_an_unknown_pass_is_a_one_line_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"layers": [{"layer": "conv2", "pass": "sideways",
                                           "speedup": 1.0}]}))
    with pytest.raises(ResultsError, match="record 0: pass 'sideways' is not a pass") as exc:
        load_gpu_results(bad)
    assert "\n" not in str(exc.value) and "backward_input" in str(exc.value)
    with pytest.raises(ResultsError):
        pass_name(None, "here")


def test_validate_joins_hyphenated_passes(tmp_path):
    trace = api.synthetic_trace(tmp_path / "d.trace", model="digits-cnn", dataset="digits",
                                method="swat-u", sparsity=0.9, batch=1, seed=0)
    hyphen = validate(trace, _minimal(tmp_path / "h.json", lambda p: p.replace("_", "-")))
    underscore = validate(trace, _minimal(tmp_path / "u.json", str))
    assert hyphen.matched == underscore.matched == 3
    assert [r.to_dict() for r in hyphen.rows] == [r.to_dict() for r in underscore.rows]
