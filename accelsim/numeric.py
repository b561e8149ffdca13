"""Small integer helpers shared by the simulator's rooms (stdlib only)."""

from __future__ import annotations

__all__ = ["ceil_div"]


def ceil_div(a: int, b: int) -> int:
    """``ceil(a / b)`` in exact integer arithmetic (``b > 0``); works on numpy integers and
    arrays too."""
    return -(-a // b)
