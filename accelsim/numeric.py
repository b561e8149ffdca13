"""Small integer helpers shared by the rooms: ceiling division, rounding half up and the one
integer check."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from accelsim.errors import AccelsimError, ConfigError

__all__ = ["ceil_div", "require_int", "round_half_up"]


def ceil_div(a: int, b: int) -> int:
    """``ceil(a / b)`` in exact integer arithmetic (``b > 0``); works on numpy integers and
    arrays too."""
    return -(-a // b)


def round_half_up(x: float) -> int:
    """``floor(x + 1/2)`` as an int (Python's ``round`` rounds half to even)."""
    return int(math.floor(x + 0.5))


def require_int(value: Any, what: str, minimum: int, fix: str = "", *,
                error: type[AccelsimError] = ConfigError) -> int:
    """``value`` as an int when it is an integer (not a bool; numpy integers too) ``>=
    minimum``, else ``error`` (one line: ``what = value must be an integer >= minimum; fix``)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise error(f"{what} = {value!r} must be an integer >= {minimum}" +
                    (f"; {fix}" if fix else ""))
    return int(value)
