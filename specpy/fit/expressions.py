"""A restricted arithmetic language for parameter links, parsed by hand and never eval'd.

Grammar: numbers, parameter names (dotted, e.g. ``s1.c2.fwhm_x`` or ``spot.x``), ``+ - * /``,
``^`` or ``**`` for powers, parentheses, the constant ``pi`` and the functions listed in
`FUNCTIONS`. Evaluation returns the value and its exact partial derivatives with respect to
every referenced name, so links keep the fit's Jacobian analytic.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Union

import numpy as np

from .errors import ExpressionError

Value = Union[float, np.ndarray]

# name -> (function, derivative)
FUNCTIONS: dict[str, tuple[Callable[[Value], Value], Callable[[Value], Value]]] = {
    "sqrt": (np.sqrt, lambda v: 0.5 / np.sqrt(v)),
    "exp": (np.exp, np.exp),
    "log": (np.log, lambda v: 1.0 / v),
    "sin": (np.sin, np.cos),
    "cos": (np.cos, lambda v: -np.sin(v)),
    "tan": (np.tan, lambda v: 1.0 / np.cos(v) ** 2),
    "abs": (np.abs, np.sign),
}
CONSTANTS = {"pi": math.pi}
MAX_LENGTH = 1000

_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)"
    r"|(?P<op>\*\*|[-+*/^(),]))"
)


@dataclass(frozen=True)
class Node:
    """One node of a parsed expression: kind is num, ref, neg, add, sub, mul, div, pow or call."""

    kind: str
    value: float = 0.0
    name: str = ""
    args: tuple["Node", ...] = ()


def _tokens(text: str) -> list[tuple[str, str]]:
    """Split text into (kind, token) pairs; anything outside the grammar is an error."""
    out, pos, text = [], 0, text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise ExpressionError(
                f"link expression {text!r}: unexpected character {text[pos:].strip()[:1]!r} at "
                f"position {pos}; allowed are numbers, parameter names, + - * / ^ ( ) and "
                f"{', '.join(sorted(FUNCTIONS))}"
            )
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


class _Parser:
    """Recursive-descent parser over the token list."""

    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokens(text)
        self.pos = 0

    def fail(self, what: str) -> ExpressionError:
        """An error naming the expression and the offending token."""
        got = self.tokens[self.pos][1] if self.pos < len(self.tokens) else "end of text"
        return ExpressionError(f"link expression {self.text!r}: expected {what}, got {got!r}")

    def peek(self) -> str:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else ""

    def take(self) -> tuple[str, str]:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def parse(self) -> Node:
        if not self.tokens:
            raise ExpressionError("link expression is empty; give e.g. '2 * s1.c1.fwhm_x'")
        node = self.expr()
        if self.pos != len(self.tokens):
            raise self.fail("an operator or the end")
        return node

    def expr(self) -> Node:
        node = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()[1]
            node = Node("add" if op == "+" else "sub", args=(node, self.term()))
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.peek() in ("*", "/"):
            op = self.take()[1]
            node = Node("mul" if op == "*" else "div", args=(node, self.unary()))
        return node

    def unary(self) -> Node:
        if self.peek() in ("-", "+"):
            op = self.take()[1]
            inner = self.unary()
            return Node("neg", args=(inner,)) if op == "-" else inner
        return self.power()

    def power(self) -> Node:
        node = self.atom()
        if self.peek() in ("^", "**"):
            self.take()
            node = Node("pow", args=(node, self.unary()))
        return node

    def atom(self) -> Node:
        if self.pos >= len(self.tokens):
            raise self.fail("a number, a name or '('")
        kind, token = self.take()
        if kind == "num":
            return Node("num", value=float(token))
        if token == "(":
            node = self.expr()
            if self.peek() != ")":
                raise self.fail("')'")
            self.take()
            return node
        if kind != "name":
            self.pos -= 1
            raise self.fail("a number, a name or '('")
        if self.peek() == "(":
            if token not in FUNCTIONS:
                raise ExpressionError(
                    f"link expression {self.text!r}: unknown function {token!r}; "
                    f"allowed: {', '.join(sorted(FUNCTIONS))}"
                )
            self.take()
            arg = self.expr()
            if self.peek() != ")":
                raise self.fail("')' closing the call")
            self.take()
            return Node("call", name=token, args=(arg,))
        if token in CONSTANTS:
            return Node("num", value=CONSTANTS[token])
        return Node("ref", name=token)


def parse(text: str) -> Node:
    """Parse a link expression into a tree of `Node`s (no Python evaluation involved)."""
    if not isinstance(text, str):
        raise ExpressionError(f"link expression must be text, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"link expression is {len(text)} characters long; at most {MAX_LENGTH} allowed")
    return _Parser(text).parse()


def references(node: Node) -> list[str]:
    """The parameter names an expression refers to, in first-use order."""
    found: list[str] = []
    stack = [node]
    while stack:
        current = stack.pop(0)
        if current.kind == "ref" and current.name not in found:
            found.append(current.name)
        stack[0:0] = list(current.args)
    return found


def rename(node: Node, mapping: Mapping[str, str]) -> Node:
    """A copy of the tree with referenced names replaced through `mapping`."""
    if node.kind == "ref":
        return Node("ref", name=mapping.get(node.name, node.name))
    if not node.args:
        return node
    return Node(node.kind, node.value, node.name, tuple(rename(arg, mapping) for arg in node.args))


_PRECEDENCE = {"add": 1, "sub": 1, "mul": 2, "div": 2, "neg": 3, "pow": 4}
_SYMBOL = {"add": " + ", "sub": " - ", "mul": " * ", "div": " / ", "pow": "^"}


def to_text(node: Node) -> str:
    """Render a tree back to text that `parse` reads to the same tree."""
    if node.kind == "num":
        return repr(node.value)
    if node.kind == "ref":
        return node.name
    if node.kind == "call":
        return f"{node.name}({to_text(node.args[0])})"
    if node.kind == "neg":
        inner = node.args[0]
        text = to_text(inner)
        return f"-({text})" if _PRECEDENCE.get(inner.kind, 9) <= 3 else f"-{text}"
    left, right = node.args
    mine = _PRECEDENCE[node.kind]
    ltext, rtext = to_text(left), to_text(right)
    if _PRECEDENCE.get(left.kind, 9) < mine or (node.kind == "pow" and left.kind in _PRECEDENCE):
        ltext = f"({ltext})"
    if _PRECEDENCE.get(right.kind, 9) <= mine and right.kind in _PRECEDENCE:
        rtext = f"({rtext})"
    return f"{ltext}{_SYMBOL[node.kind]}{rtext}"


def evaluate(node: Node, values: Mapping[str, Value]) -> tuple[Value, dict[str, Value]]:
    """The expression's value and its partial derivatives with respect to each referenced name."""
    kind = node.kind
    if kind == "num":
        return node.value, {}
    if kind == "ref":
        if node.name not in values:
            raise ExpressionError(f"link expression refers to unknown parameter {node.name!r}")
        return values[node.name], {node.name: 1.0}
    if kind == "neg":
        v, g = evaluate(node.args[0], values)
        return -v, {k: -d for k, d in g.items()}
    if kind == "call":
        function, derivative = FUNCTIONS[node.name]
        v, g = evaluate(node.args[0], values)
        slope = derivative(v)
        return function(v), {k: slope * d for k, d in g.items()}
    (a, ga), (b, gb) = evaluate(node.args[0], values), evaluate(node.args[1], values)
    if kind == "add":
        return a + b, _combine(ga, 1.0, gb, 1.0)
    if kind == "sub":
        return a - b, _combine(ga, 1.0, gb, -1.0)
    if kind == "mul":
        return a * b, _combine(ga, b, gb, a)
    if kind == "div":
        return a / b, _combine(ga, 1.0 / b, gb, -a / (b * b))
    value = a**b
    log_a = np.log(np.where(np.asarray(a) > 0, a, 1.0)) if gb else 0.0
    return value, _combine(ga, b * a ** (b - 1.0) if ga else 0.0, gb, value * log_a)


def _combine(ga: dict[str, Value], fa: Value, gb: dict[str, Value], fb: Value) -> dict[str, Value]:
    """fa * ga + fb * gb for two gradient dictionaries."""
    out = {k: fa * d for k, d in ga.items()}
    for k, d in gb.items():
        out[k] = out[k] + fb * d if k in out else fb * d
    return out
