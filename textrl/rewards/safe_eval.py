"""Arithmetic expressions evaluated from their syntax tree: numbers, + - * / ^, parentheses, and an
allow-list of names and functions. Never eval(); every other construct is rejected."""
from __future__ import annotations

import ast
import math
from fractions import Fraction
from typing import Callable, Mapping

MAX_EXPONENT = 64  # keeps 9^9^9-style inputs from hanging the scorer
MAX_LENGTH = 500

Number = Fraction | float

_OPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
        ast.Div: lambda a, b: a / b}


class UnsafeExpression(ValueError):
    """The text is not an allowed arithmetic expression (or its value is undefined)."""


def parse(expr: str) -> ast.expr:
    if len(expr) > MAX_LENGTH:
        raise UnsafeExpression(f"expression longer than {MAX_LENGTH} characters")
    try:
        return ast.parse(expr.strip(), mode="eval").body
    except (SyntaxError, ValueError) as err:
        raise UnsafeExpression(f"not an expression: {err}") from None


def literals(node: ast.expr) -> list[Number]:
    """The numbers written in the expression, in order (countdown checks each is used at most once)."""
    return [_constant(n) for n in ast.walk(node) if isinstance(n, ast.Constant)]


def _constant(node: ast.Constant) -> Fraction:
    v = node.value
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise UnsafeExpression(f"unsupported literal {v!r}")
    if isinstance(v, float) and not math.isfinite(v):
        raise UnsafeExpression("non-finite literal")
    return Fraction(v) if isinstance(v, int) else Fraction(repr(v))  # "0.1" -> 1/10 exactly


def _bad(msg: str):
    raise UnsafeExpression(msg)


def evaluate(node: ast.expr | str, *, ops: frozenset[str] = frozenset("+-*/^"),
             names: Mapping[str, float] | None = None,
             functions: Mapping[str, Callable[[float], float]] | None = None) -> Number:
    """Exact Fraction arithmetic while possible; float once a name or function brings an irrational in."""
    if isinstance(node, str):
        node = parse(node)
    names, functions = names or {}, functions or {}

    def go(n: ast.expr) -> Number:
        if isinstance(n, ast.Constant):
            return _constant(n)
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, (ast.USub, ast.UAdd)):
            if "-" not in ops and isinstance(n.op, ast.USub):
                raise UnsafeExpression("unary minus is not allowed")
            v = go(n.operand)
            return -v if isinstance(n.op, ast.USub) else v
        if isinstance(n, ast.BinOp):
            symbol = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "^",
                      ast.BitXor: "^"}.get(type(n.op))
            if symbol is None or symbol not in ops:
                raise UnsafeExpression(f"operator {type(n.op).__name__} is not allowed")
            a, b = go(n.left), go(n.right)
            if symbol == "^":
                return _power(a, b)
            if symbol == "/" and b == 0:
                raise UnsafeExpression("division by zero")
            return _OPS[type(n.op)](a, b)
        if isinstance(n, ast.Name) and n.id in names:
            return float(names[n.id])
        if (isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in functions
                and len(n.args) == 1 and not n.keywords):
            try:
                return float(functions[n.func.id](float(go(n.args[0]))))
            except (ValueError, OverflowError) as err:
                raise UnsafeExpression(f"{n.func.id}: {err}") from None
        raise UnsafeExpression(f"{type(n).__name__} is not allowed in an arithmetic expression")

    return go(node)


def _power(a: Number, b: Number) -> Number:
    if abs(b) > MAX_EXPONENT or abs(a) > 10**12:
        raise UnsafeExpression("power too large")
    if isinstance(b, Fraction) and b.denominator == 1 and isinstance(a, Fraction):
        if a == 0 and b < 0:
            raise UnsafeExpression("division by zero")
        return a ** int(b)
    try:
        return float(a) ** float(b) if a >= 0 else _bad("fractional power of a negative number")
    except OverflowError:
        raise UnsafeExpression("power too large") from None
