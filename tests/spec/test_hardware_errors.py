"""Every bad hardware description and file gives a one-line HardwareError naming the key
and the fix."""

import math

import pytest

from accelsim.errors import AccelsimError, HardwareError
from accelsim.spec.array_sections import (
    ArraySpec,
    FrontendSpec,
)
from accelsim.spec.hardware import (
    Hardware,
    load_hardware,
)


def raises(source, *words):
    """load_hardware(source) raises a one-line HardwareError containing every word."""
    with pytest.raises(HardwareError) as info:
        load_hardware(source)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message, (word, message)
    return message


def one(section, key, value):
    return {section: {key: value}}


# ---- every bad input ------------------------------------------------------------------
@pytest.mark.parametrize("key", ["tiles", "rows", "columns", "lanes", "pe_bits"])
@pytest.mark.parametrize("value", [0, -1])
def test_array_counts_positive(key, value):
    raises(one("array", key, value), f"[array] {key} = {value}", f"{key} >= 1")


@pytest.mark.parametrize("key", ["tiles", "rows", "columns", "lanes", "pe_bits"])
@pytest.mark.parametrize("value, typ", [("16", "string"), (2.5, "float"), (16.0, "float"),
                                        (True, "boolean"), ([16], "array")])
def test_array_counts_integers(key, value, typ):
    raises(one("array", key, value), f"[array] {key}", "must be an integer", typ)


@pytest.mark.parametrize("value", [0, 0.0, -1.0, math.nan, math.inf, -math.inf])
def test_clock_positive_finite(value):
    raises(one("array", "clock_ghz", value), "[array] clock_ghz", "finite number > 0")


@pytest.mark.parametrize("value", ["1.0", True, None])
def test_clock_type(value):
    raises(one("array", "clock_ghz", value), "[array] clock_ghz", "must be a number")


@pytest.mark.parametrize("key", ["lookahead", "lookaside"])
@pytest.mark.parametrize("value", ["2", 2.0, False])
def test_frontend_integers(key, value):
    raises(one("frontend", key, value), f"[frontend] {key}", "must be an integer")


def test_lookahead_negative():
    raises(one("frontend", "lookahead", -1), "[frontend] lookahead = -1", "h < 0",
           "lookahead >= 0")


def test_lookaside_negative():
    raises(one("frontend", "lookaside", -1), "[frontend] lookaside = -1", "d < 0")


@pytest.mark.parametrize("lanes, d", [(16, 16), (16, 20), (4, 5), (1, 1)])
def test_lookaside_below_lanes(lanes, d):
    raises({"array": {"lanes": lanes}, "frontend": {"lookaside": d}},
           f"[frontend] lookaside = {d}", f"[array] lanes = {lanes}", f"<= {lanes - 1}")


def test_lookaside_fits_lanes():
    hw = load_hardware({"array": {"lanes": 6}, "frontend": {"lookaside": 5}})
    assert hw.frontend.lookaside == 5


@pytest.mark.parametrize("section, key, value, choices", [
    ("array", "kind", "gpu", ['"bit-tactical"']),
    ("frontend", "kind", "sparse", ['"dense"', '"tcl"']),
    ("frontend", "kind", "TCL", ['"dense"', '"tcl"']),
    ("frontend", "shape", "X", ['"T"', '"L"']),
    ("frontend", "shape", "t", ['"T"', '"L"']),
    ("frontend", "priority", "random", ['"least-flexible"', '"non-overlapping"']),
    ("frontend", "schedule", "both", ['"sparser"', '"weights"', '"activations"']),
    ("backend", "kind", "bit-serial", ['"bit-parallel"', '"tclp"', '"tcle"']),
    ("memory", "kind", "hbm", ['"ideal"', '"dram"']),
    ("frontend", "shape", 1, ['"T"', '"L"']),
])
def test_unknown_choices(section, key, value, choices):
    raises(one(section, key, value), f"[{section}] {key}", *choices)


@pytest.mark.parametrize("section, value", [
    ("array", "systolic"), ("array", "scnn"), ("array", "ideal"),
])
def test_other_array_kinds_available(section, value):
    # formerly planned; their own tests are in test_arrays.py
    assert load_hardware(one(section, "kind", value)).array.kind == value


def test_energy_keys(tmp_path):
    raises(one("energy", "mac_pj_per_bit", 1.0), "[energy] mac_pj_per_bit", "known keys",
           "technology", "45nm.toml")
    assert load_hardware({"energy": {"technology": "65nm"}}).energy.technology == "65nm"
    raises(one("energy", "technology", "7nm"), "technology table", "not found", "45nm")
    raises(one("energy", "technology", 45), "technology", "built-in name")
    bad = tmp_path / "node.toml"
    bad.write_text('name = "x"\nnode_nm = 7\n')
    raises(one("energy", "technology", str(bad)), "[multiplier] is missing")


@pytest.mark.parametrize("key, value, words", [
    ("bits_first_stage", -1, [">= 0"]), ("bits_first_stage", 5, ["<= 4"]),
    ("column_registers", -1, [">= 0"]), ("skip_zero_weights", 1, ["true or false"]),
])
def test_backend_options(key, value, words):
    raises(one("backend", key, value), f"[backend] {key}", *words)


def test_serial_backends_need_16_bits_or_fewer():
    hw = load_hardware({"backend": {"kind": "tcle"}, "array": {"pe_bits": 8}})
    assert hw.backend.serial and hw.backend.bits_first_stage == 2
    raises({"backend": {"kind": "tclp"}, "array": {"pe_bits": 32}}, "[array] pe_bits = 32",
           "2..16")
    assert not load_hardware({"array": {"pe_bits": 32}}).backend.serial


@pytest.mark.parametrize("key, value, words", [
    ("bandwidth_gb_per_s", 0, ["> 0"]), ("latency_ns", -1.0, [">= 0"]),
    ("weight_buffer_bytes", 0, [">= 1"]), ("activation_buffer_bytes", 1.5, ["integer"]),
    ("double_buffering", "yes", ["true or false"]),
])
def test_memory_options(key, value, words):
    raises(one("memory", key, value), f"[memory] {key}", *words)
    assert load_hardware({"memory": {"kind": "dram", "bandwidth_gb_per_s": 8}}).memory \
        .bandwidth_gb_per_s == 8.0


def test_unknown_key_lists_known():
    message = raises(one("array", "tiels", 16), "[array] tiels", "did you mean tiles",
                     "known keys: kind, tiles, rows, columns, lanes, pe_bits, clock_ghz")
    assert "frontend" not in message
    raises(one("frontend", "look_ahead", 2), "[frontend] look_ahead", "lookahead")
    raises(one("memory", "size", 2), "[memory] size", "known keys: kind, bandwidth_gb_per_s")


def test_unknown_section():
    raises({"arrays": {"tiles": 16}}, "[arrays]", "did you mean array", "[frontend]")
    raises({"tiles": 16}, "tiles", "top-level", "[array]")
    raises({"colour": "red"}, "colour", "top-level", "name")


def test_section_must_be_table():
    raises({"array": 16}, "[array]", "table")
    raises({"frontend": "tcl"}, "[frontend]", "table")


def test_name_must_be_string():
    raises({"name": 3}, "name", "string")


def test_not_a_description():
    raises(42, "hardware", "int")
    raises([("array", {})], "hardware", "list")


# ---- files ----------------------------------------------------------------------------
def test_missing_file(tmp_path):
    path = tmp_path / "nope.toml"
    raises(path, str(path), "not found")
    raises(str(path), str(path), "not found")


def test_directory(tmp_path):
    raises(tmp_path, str(tmp_path))


def test_syntax_error_names_file_and_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[array]\ntiles = 16\nrows = = 3\n", encoding="utf-8")
    raises(path, str(path), "TOML syntax error", "line 3")


def test_not_utf8(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    raises(path, str(path), "UTF-8")


def test_bad_value_in_file_names_file(tmp_path):
    path = tmp_path / "hw.toml"
    path.write_text('[backend]\nkind = "tclq"\n', encoding="utf-8")
    raises(path, str(path), '[backend] kind = "tclq"', '"tcle"')
    path.write_text("[array]\ntiles = \"16\"\n", encoding="utf-8")
    raises(path, str(path), "[array] tiles", "integer")
    path.write_text("[frontend]\nlookahead = -2\n", encoding="utf-8")
    raises(path, str(path), "[frontend] lookahead", "h < 0")


def test_file_with_defaults_left_out(tmp_path):
    path = tmp_path / "hw.toml"
    path.write_text('[frontend]\nshape = "L"\nlookahead = 3\nlookaside = 4\n', encoding="utf-8")
    hw = load_hardware(path)
    assert hw.array == ArraySpec() and hw.name == ""
    assert hw.frontend.label == "L<3,4>"
    assert hw.frontend.offsets()[0] == (1, -4)


def test_direct_construction_validates():
    with pytest.raises(HardwareError, match=r"\[array\] tiles"):
        ArraySpec(tiles=0)
    with pytest.raises(HardwareError, match=r"\[frontend\] shape"):
        FrontendSpec(shape="Z")
    with pytest.raises(HardwareError, match=r"\[array\] must be of type ArraySpec"):
        Hardware(array={"tiles": 1})
    with pytest.raises(HardwareError, match=r"\[frontend\] lookaside = 5"):
        Hardware(array=ArraySpec(lanes=5))


def test_error_hierarchy():
    assert issubclass(HardwareError, AccelsimError)
    assert issubclass(HardwareError, ValueError)
