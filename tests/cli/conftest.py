"""Fixtures of the CLI tests: run ``accelsim ARGV`` in-process and capture its output."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from accelsim.cli import main


@pytest.fixture
def cli(capsys) -> Callable[..., tuple[int, str, str]]:
    """``cli(*argv)`` -> (exit status, stdout, stderr); arguments may be paths."""

    def run(*argv: object) -> tuple[int, str, str]:
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def usage_error(capsys) -> Callable[..., str]:
    """``usage_error(*argv)`` -> stderr of an argparse usage error (asserts exit status 2)."""

    def run(*argv: object) -> str:
        with pytest.raises(SystemExit) as exc:
            main([str(a) for a in argv])
        assert exc.value.code == 2
        return capsys.readouterr().err

    return run
