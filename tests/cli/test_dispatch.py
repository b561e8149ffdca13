"""The dispatcher: subcommand table, --help, --version, --quiet, one-line errors, exit codes,
and a light start (no torch, no matplotlib for the listing and simulation commands)."""

from __future__ import annotations

import errno
import subprocess
import sys

import pytest

import accelsim
from accelsim.cli import COMMANDS, build_parser, dispatch, main
from accelsim.cli.dispatch import describe_os_error, load_command
from accelsim.cli.options import Command
from accelsim.errors import ConfigError


def test_every_subcommand_has_help(capsys):
    for name in COMMANDS:
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0
        out = capsys.readouterr().out
        assert f"accelsim {name}" in out and len(out.splitlines()) > 3, name
    choices = build_parser()._subparsers._group_actions[0].choices
    assert sorted(choices) == sorted(COMMANDS)


def test_table_matches_the_group_modules():
    for name in COMMANDS:
        command = load_command(name)
        assert isinstance(command, Command) and command.description, name


def test_top_level_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "--version" in out and "--quiet" in out
    for name, (_, summary) in COMMANDS.items():
        assert name in out and summary.split()[0] in out


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"accelsim {accelsim.__version__}"


def test_console_entry_point():
    proc = subprocess.run([sys.executable, "-m", "accelsim", "--help"], capture_output=True,
                          text=True, check=True)
    assert "examples:" in proc.stdout and "flops" in proc.stdout


@pytest.mark.parametrize("argv", [["--quiet", "simulate"], ["simulate", "--quiet"]])
def test_quiet_before_or_after_the_subcommand(argv):
    args = build_parser(["simulate"]).parse_args([*argv, "--synthetic", "digits-cnn"])
    assert args.quiet is True
    assert build_parser(["simulate"]).parse_args(["simulate"]).quiet is False


@pytest.mark.parametrize("argv", [
    ["flops", "--model", "resnet20", "--method", "swat-u", "--sparsity", "1.5"],
    ["demo", "--batch", "0"],
    ["layers", "--model", "alexnet"],
    ["simulate", "--bogus"],
    ["nonsense"],
    [],
])
def test_usage_errors_are_one_line_exit_2(usage_error, argv):
    err = usage_error(*argv)
    assert "Traceback" not in err and "error:" in err
    assert len(err.strip().splitlines()) == 1, err


def test_an_accelsim_error_is_one_line(cli):
    code, _, err = cli("inspect", "missing.trace")
    assert code == 2 and err.startswith("accelsim inspect: error:")
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("exc, words", [
    (FileExistsError(errno.EEXIST, "File exists", "/x/out"), "/x/out: file exists"),
    (IsADirectoryError(errno.EISDIR, "Is a directory", "/x/d"), "/x/d: is a directory"),
    (NotADirectoryError(errno.ENOTDIR, "Not a directory", "/x/f"), "/x/f: not a directory"),
    (OSError(errno.ENOSPC, "No space left on device", "/x/big"),
     "/x/big: no space left on device"),
    (OSError(errno.EROFS, "Read-only file system", "/ro/f"), "/ro/f: read-only file system"),
    (PermissionError(errno.EACCES, "Permission denied", "/root/f"),
     "/root/f: permission denied"),
    (FileNotFoundError(errno.ENOENT, "No such file or directory", "a", None, "b"),
     "a -> b: no such file or directory"),
])
def test_os_errors_are_one_line_naming_the_path(cli, monkeypatch, exc, words):
    def fail(args):
        raise exc

    monkeypatch.setattr(dispatch, "load_command",
                        lambda name: Command("d", lambda p: None, fail))
    code, _, err = cli("models")
    assert code == 2 and err.startswith(f"accelsim models: error: {words}")
    assert len(err.splitlines()) == 1
    assert describe_os_error(OSError("plain")) == "plain"


def test_bugs_are_not_swallowed(monkeypatch):
    """A plain ValueError/TypeError is a bug: it propagates (tests see the traceback)."""
    def bug(args):
        raise ValueError("a bug")

    monkeypatch.setattr(dispatch, "load_command", lambda name: Command("d", lambda p: None, bug))
    with pytest.raises(ValueError, match="a bug"):
        main(["models"])


def test_user_errors_are_caught(monkeypatch, capsys):
    def bad_input(args):
        raise ConfigError("bad input")

    monkeypatch.setattr(dispatch, "load_command",
                        lambda name: Command("d", lambda p: None, bad_input))
    assert main(["models"]) == 2
    assert capsys.readouterr().err == "accelsim models: error: bad input\n"


LIGHT = [["--help"], ["models"], ["inspect", "{trace}"], ["simulate", "{trace}"],
         ["simulate", "--synthetic", "digits-cnn", "--dataset", "digits"],
         ["flops", "{trace}"], ["gpu-bench", "--help"], ["simulate", "--help"]]


def _modules_after(argv: list[str]) -> set[str]:
    code = ("import sys\nfrom accelsim.cli import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
            "print(' '.join(m for m in ('torch', 'matplotlib') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return set(proc.stdout.splitlines()[-1].split()) if proc.stdout.strip() else set()


@pytest.fixture(scope="module")
def small_trace(tmp_path_factory):
    path = tmp_path_factory.mktemp("light") / "d.trace"
    assert main(["synthetic", "--model", "digits-cnn", "--dataset", "digits", "--method",
                 "swat-u", "--out", str(path)]) == 0
    return path


@pytest.mark.parametrize("argv", LIGHT, ids=" ".join)
def test_light_commands_load_neither_torch_nor_matplotlib(argv, small_trace):
    assert _modules_after([a.format(trace=small_trace) for a in argv]) == set()


@pytest.mark.parametrize("argv", [
    ["methods"],
    ["show-run", "{run}"],
    ["demo", "--synthetic", "--out", "{run}", "--model", "digits-cnn"],
], ids=" ".join)
def test_run_commands_load_no_torch(argv, tmp_path):
    run = tmp_path / "run"
    if argv[0] == "show-run":
        (run / "traces").mkdir(parents=True)
    assert "torch" not in _modules_after([a.format(run=run) for a in argv])
