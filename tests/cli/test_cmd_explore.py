"""sweep: spec or --export, typed --where values, --quiet (the run itself: tests/test_sweep.py)."""

from __future__ import annotations

from accelsim.cli.cmd_explore import typed


def test_where_values_are_typed():
    assert typed("2") == 2 and typed("0.5") == 0.5 and typed("true") is True
    assert typed("forward") == "forward" and typed("*total*") == "*total*"


def test_sweep_needs_a_spec_or_export(cli, tmp_path):
    code, _, err = cli("sweep", "--out", tmp_path / "r.sqlite")
    assert code == 2 and "SPEC.toml" in err and len(err.strip().splitlines()) == 1


def test_sweep_quiet_prints_no_progress(cli, tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text('passes = ["forward"]\n[grid]\n"frontend.lookahead" = [1]\n'
                    '[[workloads.synthetic]]\nmodel = "digits-cnn"\ndataset = "digits"\n')
    code, out, err = cli("sweep", spec, "--out", tmp_path / "r.sqlite", "--workers", "1",
                         "--quiet", "--export", tmp_path / "r.csv", "--where", "pass=forward")
    assert code == 0 and "2 computed" in out and err == ""   # the point and the reference
    assert (tmp_path / "r.csv").read_text().startswith("trace")
