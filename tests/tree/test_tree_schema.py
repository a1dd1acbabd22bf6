"""Leaf schemas: every kind's checks, SI units and Quantities, text parsing, and refused declarations."""

import json

import astropy.units as u
import numpy as np
import pytest

from specpy.errors import ValidationError
from specpy.tree import Array, Bool, Enum, Float, Int, Leaf, Str, jsonable


def refused(leaf, value, path="x"):
    """The message of the ValidationError `leaf` raises for `value` (fails the test if it accepts it)."""
    with pytest.raises(ValidationError) as caught:
        leaf.check(path, value)
    return str(caught.value)


def test_float_range_is_inclusive_and_the_message_names_path_value_and_range():
    power = Float(unit="W", min=0.0, max=0.5)
    assert power.check("laser/power", 0.5) == 0.5
    assert power.check("laser/power", 0) == 0.0 and type(power.check("laser/power", 0)) is float
    message = refused(power, 0.51, "laser/power")
    assert message.startswith("laser/power: 0.51 is out of range")
    assert "0 .. 0.5 W" in message


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_float_refuses_non_finite_values_even_without_bounds(value):
    assert "is not finite" in refused(Float(), value)


@pytest.mark.parametrize("value", ["0.1", True, None, [0.1], {"v": 1}])
def test_float_refuses_things_that_are_not_numbers(value):
    assert "is not a number" in refused(Float(unit="W"), value)


def test_numpy_scalars_are_accepted_and_become_python_numbers():
    assert type(Float().check("x", np.float32(0.25))) is float
    assert type(Int().check("x", np.int64(7))) is int
    assert Bool().check("x", np.bool_(True)) is True


def test_quantities_are_converted_to_si_and_wrong_dimensions_refused():
    power = Float(unit="W", min=0, max=0.5)
    assert power.check("p", 5 * u.mW) == pytest.approx(0.005)
    assert Float(unit="m").check("x", 250 * u.nm) == pytest.approx(250e-9)
    assert Float(unit="Hz").check("f", 2 * u.kHz) == pytest.approx(2000.0)
    assert "does not convert to W" in refused(power, 5 * u.m)
    assert "out of range" in refused(power, 600 * u.mW)
    assert "does not convert to dimensionless" in refused(Float(), 1 * u.s)


def test_int_takes_whole_numbers_only():
    frames = Int(min=1, max=100)
    assert frames.check("frames", 100) == 100
    assert frames.check("frames", 4.0) == 4
    assert "not a whole number" in refused(frames, 2.5)
    assert "not an integer" in refused(frames, True)
    assert "out of range" in refused(frames, 0)


def test_bool_str_and_enum():
    assert Bool().check("on", False) is False
    assert "not a bool" in refused(Bool(), 1)
    assert Str().check("name", "a b") == "a b"
    assert "not a str" in refused(Str(), 3)
    mode = Enum(["cw", "pulsed"])
    assert mode.check("mode", "pulsed") == "pulsed"
    message = refused(mode, "CW", "mode")
    assert "did you mean 'cw'" in message and "one of 'cw', 'pulsed'" in message
    assert "not a choice" in refused(mode, 1)


def test_arrays_are_copied_frozen_and_checked_for_shape_range_and_finiteness():
    lut = Array(shape=(None, 2), min=0, max=1)
    source = np.array([[0.0, 1.0], [0.5, 0.25]])
    stored = lut.check("lut", source)
    source[0, 0] = 0.9
    assert stored[0, 0] == 0.0 and not stored.flags.writeable
    assert "shape (3,)" in refused(lut, [0.1, 0.2, 0.3])
    assert "out of range" in refused(lut, [[0.0, 2.0]])
    assert "not finite" in refused(lut, [[0.0, np.nan]])
    assert "other than numbers" in refused(lut, [["0.1", "0.2"]])
    assert Array(unit="m").check("p", [1, 2] * u.um).tolist() == pytest.approx([1e-6, 2e-6])


def test_read_only_is_declared_on_the_leaf_and_described():
    temperature = Float(unit="K", read_only=True, description="head temperature")
    assert temperature.describe() == {
        "kind": "float", "read_only": True, "unit": "K", "description": "head temperature"
    }


def test_accept_converts_readings_without_enforcing_the_range():
    power = Float(unit="W", min=0, max=0.5)
    assert power.accept("p", 0.7) == 0.7
    with pytest.raises(ValidationError):
        power.accept("p", "abc")


def test_parse_understands_text_with_units_and_switch_words():
    assert Float(unit="s").parse("timeout", "500 ms") == pytest.approx(0.5)
    assert Float(unit="s").parse("timeout", "2") == 2.0
    assert Int().parse("baud", 9600) == 9600
    assert Bool().parse("check", "off") is False
    assert Str().parse("term", "\r\n") == "\r\n"
    with pytest.raises(ValidationError, match="not a number with an optional unit"):
        Float(unit="s").parse("timeout", "soon")
    with pytest.raises(ValidationError, match="does not convert to s"):
        Float(unit="s").parse("timeout", "5 m")


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda: Leaf("complex"), "kind 'complex' is unknown"),
        (lambda: Float(min=2, max=1), "min 2 is above max 1"),
        (lambda: Enum([]), "distinct, non-empty str choices"),
        (lambda: Enum(["a", "a"]), "distinct, non-empty str choices"),
        (lambda: Leaf("bool", unit="W"), "takes no unit"),
        (lambda: Float(min=0, max=1, default=2), "default: 2 is out of range"),
        (lambda: Array(dtype="U4"), "not numeric"),
        (lambda: Leaf("str", shape=(2,)), "only array leaves take a shape"),
    ],
)
def test_bad_declarations_are_refused_when_made(make, fragment):
    with pytest.raises(ValidationError, match=fragment):
        make()


def test_units_must_be_si():
    from specpy.tree import Tree

    with pytest.raises(ValidationError, match="'nm' is not an SI unit"):
        Tree({"x": Float(unit="nm")})
    with pytest.raises(ValidationError, match="not a unit astropy can read"):
        Tree({"x": Float(unit="Watt-ish")})
    Tree({"p": Float(unit="W"), "f": Float(unit="Hz"), "x": Float(unit="m"), "a": Float(unit="rad")})


def test_jsonable_turns_numpy_and_non_finite_values_into_plain_json():
    value = jsonable(np.array([1.0, np.inf, np.nan]))
    assert value == [1.0, None, None]
    assert json.dumps(jsonable(np.float32(0.5)), allow_nan=False) == "0.5"
