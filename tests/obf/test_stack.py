"""Stack: SpecPy's semantics (axis order, defaults, partial setters) and our deliberate fixes."""

import numpy as np
import pytest

import specpy
from specpy import AxisError, Stack, UnsupportedTypeError, ValidationError

STACK_DTYPES = [np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.float32, np.float64,
                np.complex64, np.complex128]


def test_shape_is_numpy_shape_reversed():
    stack = Stack(np.zeros((4, 3, 2), np.uint16))
    assert stack.shape() == stack.sizes() == [2, 3, 4]
    assert [stack.size(i) for i in range(3)] == [2, 3, 4]
    assert stack.number_of_dimensions() == 3
    assert stack.number_of_elements() == 24
    assert stack.data().shape == (4, 3, 2)


def test_type_sizes_constructor_takes_specpy_order():
    stack = Stack(np.uint16, [5, 3])
    assert stack.shape() == [5, 3]
    assert stack.data().shape == (3, 5)
    assert stack.type() is np.uint16
    assert not stack.data().any()
    assert Stack("float32", (2,)).type() is np.float32
    assert Stack(float, [2]).type() is np.float64
    assert Stack(np.dtype("complex64"), np.array([2, 2])).type() is np.complex64


def test_defaults_match_specpy():
    stack = Stack(np.zeros((4, 3, 2), np.float32))
    assert stack.name() == "" and stack.description() == ""
    assert stack.labels() == ["", "", ""]
    assert stack.lengths() == [2.0, 3.0, 4.0]
    assert stack.offsets() == [-0.5, -0.5, -0.5]
    assert stack.col_positions(1) == [-1.5, -0.5, 0.5]
    assert stack.col_labels(0) == []
    assert stack.parameters("") == {}


def test_partial_list_setters_update_only_the_overlap():
    stack = Stack(np.zeros((4, 3, 2), np.uint8))
    stack.set_labels(["x"])
    assert stack.labels() == ["x", "", ""]
    stack.set_labels(["a", "b", "c", "d", "e"])
    assert stack.labels() == ["a", "b", "c"]
    stack.set_lengths([1e-6, 2e-6])
    assert stack.lengths() == [1e-6, 2e-6, 4.0]
    stack.set_offsets([])
    assert stack.offsets() == [-0.5, -0.5, -0.5]
    stack.set_offset(2, 7)
    assert stack.offset(2) == 7.0


def test_data_is_the_stacks_own_buffer():
    stack = Stack(np.uint16, [3, 2])
    view = stack.data()
    view[1, 2] = 9
    assert stack.data() is view
    assert stack.data()[1, 2] == 9
    assert view.flags.c_contiguous and view.flags.writeable


@pytest.mark.parametrize("dtype", STACK_DTYPES)
def test_every_specpy_dtype(dtype):
    values = np.arange(6).reshape(2, 3).astype(dtype)
    stack = Stack(values)
    assert stack.type() is np.dtype(dtype).type
    np.testing.assert_array_equal(stack.data(), values)


@pytest.mark.parametrize("make", [
    lambda a: a.T,                                   # Fortran order
    lambda a: a[::2, ::-1],                          # strided, negative step
    lambda a: a.astype(a.dtype.newbyteorder(">")),   # big endian
    lambda a: np.asfortranarray(a),
    lambda a: np.ma.masked_array(a, mask=a > 3),     # subclass: mask ignored
])
def test_any_array_layout_is_copied_by_value(make):
    base = np.arange(24, dtype=np.int32).reshape(4, 6)
    source = make(base)
    stack = Stack(source)
    np.testing.assert_array_equal(stack.data(), np.asarray(source))
    assert stack.data().dtype.isnative and stack.data().flags.c_contiguous
    source_copy = np.array(source)
    stack.data()[...] = 0
    np.testing.assert_array_equal(np.asarray(source), source_copy)  # a copy, not a view


def test_zero_d_array_is_a_rank_zero_stack_not_a_crash():
    stack = Stack(np.array(5, np.uint16))
    assert stack.shape() == [] and stack.number_of_elements() == 1
    assert stack.data()[()] == 5


@pytest.mark.parametrize("bad", [np.zeros(3, np.int64), np.zeros(3, bool), np.zeros(3, np.float16),
                                 np.zeros(3, "U2"), np.zeros(3, [("a", "u1")])])
def test_unsupported_dtypes_name_what_is_allowed(bad):
    with pytest.raises(UnsupportedTypeError, match="allowed: uint8, int8, uint16"):
        Stack(bad)


def test_constructor_argument_errors():
    with pytest.raises(UnsupportedTypeError, match="numpy array or \\(type, sizes\\); got list"):
        Stack([1, 2, 3])
    with pytest.raises(UnsupportedTypeError, match="got NoneType"):
        Stack(None)
    with pytest.raises(TypeError, match="3 arguments"):
        Stack(np.uint8, [1], 2)
    with pytest.raises(UnsupportedTypeError, match="int64"):
        Stack(int, [2])
    with pytest.raises(UnsupportedTypeError, match="OBF type code 0x4"):
        Stack(specpy.UInt16, [2])
    with pytest.raises(ValidationError, match="non-negative"):
        Stack(np.uint8, [2, -1])


def test_axis_errors_name_the_allowed_axes():
    stack = Stack(np.zeros((3, 2), np.uint8))
    with pytest.raises(AxisError, match="invalid axis 2: the stack has 2 axes \\(0..1\\)"):
        stack.label(2)
    with pytest.raises(AxisError, match="invalid axis -1"):
        stack.set_length(-1, 1.0)
    with pytest.raises(AxisError, match="integer, not float"):
        stack.offset(0.0)
    with pytest.raises(IndexError):  # AxisError is an IndexError too
        stack.size(5)


def test_value_errors():
    stack = Stack(np.zeros((3, 2), np.uint8))
    with pytest.raises(ValidationError, match="str, not int"):
        stack.set_name(3)
    with pytest.raises(ValidationError, match="real number"):
        stack.set_length(0, "1")
    with pytest.raises(ValidationError, match="a list, not a single str"):
        stack.set_labels("xy")
    with pytest.raises(ValidationError, match="wrong number of column labels: 1 given, the axis has 2"):
        stack.set_col_labels(0, ["a"])
    with pytest.raises(specpy.Error, match="no tag 'k'"):
        stack.tag("k")
    with pytest.raises(ValidationError, match="JSON value"):
        stack.set_tag("k", object())


def test_tags_parameters_and_units():
    stack = Stack(np.zeros((3, 2), np.uint8))
    stack.set_tag("note", "bead scan")
    stack.set_tag("count", 3)
    assert stack.tags() == {"note": "bead scan", "count": "3"}
    stack.set_parameters("scan/dwell", 1e-5)
    stack.set_parameters("scan/axes", ["x", "y"])
    assert stack.parameters("scan/dwell") == 1e-5
    assert stack.parameters("") == {"scan": {"dwell": 1e-5, "axes": ["x", "y"]}}
    with pytest.raises(specpy.Error, match="no stack parameter 'scan/dwel': scan has \\['axes', 'dwell'\\]"):
        stack.parameters("scan/dwel")
    stack.set_unit(0, "um")
    assert stack.unit(0) == "1e-06 m"
    assert stack.unit(1) == ""
    with pytest.raises(ValidationError, match="not a unit"):
        stack.set_unit(1, "furlongs per blorp")
    meta = stack.meta_data()
    assert meta["units"] == ["1e-06 m", ""]
    assert meta["pixel_sizes"] == [1.0, 1.0]
    assert meta["parameters"]["scan"]["axes"] == ["x", "y"]
