"""Technology tables: loaded one way, validated, interpolated; every number has a source."""

from __future__ import annotations

import re

import pytest

from accelsim.errors import HardwareError
from accelsim.spec.technology import (
    BUILTIN_TECHNOLOGIES,
    TECHNOLOGY_DIR,
    Component,
    load_technology,
)


@pytest.mark.parametrize("name", BUILTIN_TECHNOLOGIES)
def test_builtin_tables_load_and_cite(name):
    tech = load_technology(name)
    assert tech.name == name and tech.node_nm == int(name[:-2])
    text = (TECHNOLOGY_DIR / f"{name}.toml").read_text()
    for line in text.splitlines():
        if re.match(r"^[a-z_]+ = [\[0-9]", line) and not line.startswith(("node_nm", "bits")):
            assert "#" in line, f"{name}: {line!r} has no source comment"


def test_interpolation():
    tech = load_technology("45nm")
    assert tech.multiplier.at(8) == pytest.approx((0.2, 282.0))
    assert tech.multiplier.at(32) == pytest.approx((3.1, 3495.0))
    e16, a16 = tech.multiplier.at(16)
    assert 0.2 < e16 < 3.1 and 282 < a16 < 3495
    assert tech.mac(16)[0] > tech.serial_lane(16)[0] > 0
    assert load_technology("65nm").mac(16)[0] > tech.mac(16)[0]


def test_bad_tables(tmp_path):
    with pytest.raises(HardwareError, match="strictly ascending"):
        Component("adder", (32, 8), (0.1, 0.03), (137.0, 36.0))
    with pytest.raises(HardwareError, match="same length"):
        Component("adder", (8, 32), (0.1,), (137.0, 36.0))
    text = (TECHNOLOGY_DIR / "45nm.toml").read_text().replace("read_pj_per_bit = 0.3125",
                                                               "read_pj_per_bit = -1.0")
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    with pytest.raises(HardwareError, match="read_pj_per_bit"):
        load_technology(str(bad))
    with pytest.raises(HardwareError, match="not found"):
        load_technology(str(tmp_path / "none.toml"))
