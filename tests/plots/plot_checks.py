"""File checks shared by the plots tests: a PNG, an SVG (parsed, with texts), a one-line
error."""

from __future__ import annotations

import struct
from pathlib import Path
from xml.etree import ElementTree

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def check_png(path: Path) -> tuple[int, int]:
    """A PNG file's (width, height) in pixels, after checking it is one."""
    data = path.read_bytes()
    assert len(data) > 1000 and data[:8] == PNG_MAGIC, path
    return struct.unpack(">II", data[16:24])


def check_svg(path: Path, *texts: str) -> str:
    text = path.read_text()
    root = ElementTree.fromstring(text)          # parses as XML
    assert root.tag.endswith("svg")
    found = " ".join(t for t in root.itertext())
    for t in texts:
        assert t in found, f"{t!r} not in the text of {path.name}"
    return found


def assert_one_line(exc: BaseException) -> None:
    assert "\n" not in str(exc) and str(exc).strip()
