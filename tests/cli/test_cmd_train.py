"""train: --batch, --passes, --layers, --encoding, --param, --quiet."""

from __future__ import annotations

import json

from accelsim.cli import build_parser
from accelsim.cli.cmd_train import train_config


def test_train_spellings_reach_the_config():
    args = build_parser(["train"]).parse_args(
        ["train", "--method", "swat-u", "--batch", "16", "--passes", "forward,backward-weight",
         "--layers", "conv1, fc", "--encoding", "float16", "--out", "r"])
    config = train_config(args)
    assert config.batch_size == 16 and config.trace_layers == ("conv1", "fc")
    assert config.trace_passes == ("forward", "backward_weight")
    assert config.trace_encoding == "float16"


def test_train_quiet_json(cli, tmp_path):
    out = tmp_path / "run"
    code, stdout, err = cli("--quiet", "train", "--method", "set", "--param", "zeta=0.2",
                            "--epochs", "1", "--max-steps-per-epoch", "2", "--batch", "16",
                            "--trace-every", "1", "--passes", "forward", "--out", out, "--json")
    assert code == 0 and err == ""
    summary = json.loads(stdout)
    assert summary["epochs"] == 1 and summary["traces"]
    config = json.loads(cli("show-run", out, "--json")[1])["config"]
    assert config["batch_size"] == 16 and config["trace_passes"] == ["forward"]
    assert config["method_params"]["zeta"] == 0.2


def test_bad_param_is_one_line(cli, tmp_path):
    code, _, err = cli("train", "--param", "zeta", "--out", tmp_path / "r")
    assert code == 2 and "--param 'zeta' must look like KEY=VALUE" in err
