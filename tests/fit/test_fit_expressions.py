"""The link-expression language: parsing, exact derivatives, and refusal of anything else."""

import math

import numpy as np
import pytest

from specpy.fit import ExpressionError
from specpy.fit.expressions import evaluate, parse, references, to_text

VALUES = {"a": 2.0, "b": 3.0, "s1.c2.fwhm_x": 4.0, "spot.x": 1.5}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2 * a + 1", 5.0),
        ("a - (b - 1)", 0.0),
        ("-a^2", -4.0),
        ("(-a)**2", 4.0),
        ("a / b / 2", 2.0 / 3.0 / 2.0),
        ("2^-1", 0.5),
        ("sqrt(s1.c2.fwhm_x) * pi", 2.0 * math.pi),
        ("exp(log(b)) + abs(-spot.x)", 4.5),
        ("1e-3 * a", 2e-3),
    ],
)
def test_values_match_arithmetic(text, expected):
    value, _ = evaluate(parse(text), VALUES)
    assert value == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("text", ["a * b + sin(a) / b", "a^b - sqrt(b) * cos(a)", "-(a - b)^3 / tan(b)", "exp(-a * b) + b / a"])
def test_gradient_matches_central_differences(text):
    node = parse(text)
    _, grad = evaluate(node, VALUES)
    for name in references(node):
        h = 1e-6
        up = dict(VALUES, **{name: VALUES[name] + h})
        down = dict(VALUES, **{name: VALUES[name] - h})
        numeric = (evaluate(node, up)[0] - evaluate(node, down)[0]) / (2 * h)
        assert grad[name] == pytest.approx(numeric, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("text", ["a*b+c", "-(a-b)^2", "a/(b*c)", "a-(b-c)", "2^-1", "a**b**c", "sqrt(a)*pi"])
def test_text_round_trip(text):
    node = parse(text)
    assert parse(to_text(node)) == node


def test_vectorised_values_and_gradients():
    value, grad = evaluate(parse("2 * a * b"), {"a": np.array([1.0, 2.0]), "b": 3.0})
    np.testing.assert_array_equal(value, [6.0, 12.0])
    np.testing.assert_array_equal(grad["b"], [2.0, 4.0])


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("__import__('os').system('true')", "unexpected character"),
        ("open(a)", "unknown function 'open'"),
        ("a; b", "unexpected character ';'"),
        ("a b", "expected an operator"),
        ("2 *", "expected a number"),
        ("(a + b", "expected ')'"),
        ("", "empty"),
    ],
)
def test_anything_outside_the_grammar_is_refused(text, fragment):
    with pytest.raises(ExpressionError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        parse(text)


def test_unknown_reference_is_reported():
    with pytest.raises(ExpressionError, match="unknown parameter 'zz'"):
        evaluate(parse("zz + 1"), VALUES)


def test_dotted_names_are_plain_lookups_not_attribute_access():
    node = parse("a.__class__")
    assert node.kind == "ref" and node.name == "a.__class__"
    with pytest.raises(ExpressionError, match="unknown parameter"):
        evaluate(node, VALUES)


def test_references_in_first_use_order():
    assert references(parse("b * a + b + s1.c2.fwhm_x")) == ["b", "a", "s1.c2.fwhm_x"]
