"""The KPI language: a small, safe expression over a window's column aggregates.

A business KPI is written in the monitoring spec as one expression, for example::

    sum(amount * (actual == "default") * (prediction == "approve"))
      - sum(margin * (actual == "repaid") * (prediction == "approve"))
    1000 * sum(revenue) / count()

It is parsed with Python's :mod:`ast` (``mode="eval"``) and nothing is ever executed: the tree
is checked against a whitelist and turned into the small frozen tree below, which the store
compiles to one engine query (``store/kpi_aggregates.py``) and numpy evaluates over rows
(``stats/kpi.py``). Allowed: numbers, strings, ``True``/``False``, the model's columns
(``prediction``, ``score``, ``actual`` or ``label``, its features and segment tags; a column
whose name is not an identifier as ``col("age (years)")``), ``+ - * /``, comparisons,
``and``/``or``/``not``, ``if_else(cond, a, b)`` and the aggregates of :data:`AGGREGATES`.
Column values are read only inside an aggregate; outside them the expression combines the
aggregates' values. Nothing else: no attributes, subscripts, lambdas, other calls or names.

Examples
--------
>>> e = parse_kpi("1000 * sum(revenue) / count()", columns={"revenue"})
>>> [a.func for a in e.aggregates], e.uses_label
(['sum', 'count'], False)
>>> parse_kpi("rate(actual == 'default')", columns=set()).uses_label
True
>>> parse_kpi("sum(x.real)", columns={"x"}, where="monitors[0].expression")
Traceback (most recent call last):
...
mlwarden.errors.ConfigError: The 'monitors[0].expression' field must use only columns, numbers, strings, arithmetic, comparisons, and/or/not, if_else and the aggregates count, max, mean, min, quantile, rate, sum (no attribute access). Got 'x.real' instead.
"""  # noqa: E501

from __future__ import annotations

import ast
from collections.abc import Collection
from dataclasses import dataclass

from mlwarden.errors import ConfigError, expected

__all__ = [
    "AGGREGATES",
    "LABEL_NAMES",
    "Aggregate",
    "Binary",
    "Column",
    "IfElse",
    "KpiExpression",
    "Leaf",
    "Literal",
    "Node",
    "Unary",
    "parse_kpi",
]

#: Aggregate -> (fewest, most) arguments.
AGGREGATES: dict[str, tuple[int, int]] = {
    "count": (0, 1),
    "max": (1, 1),
    "mean": (1, 1),
    "min": (1, 1),
    "quantile": (2, 2),
    "rate": (1, 1),
    "sum": (1, 1),
}
#: Names of the label in an expression (``actual`` as stored; ``label`` reads the same).
LABEL_NAMES = ("actual", "label")
#: Event fields an expression may name besides the features and tags.
EVENT_FIELDS = ("prediction", "score")
MAX_LENGTH = 4000
MAX_NODES = 400

_ARITH = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_CMP = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
_ALLOWED = (
    "use only columns, numbers, strings, arithmetic, comparisons, and/or/not, if_else and the "
    f"aggregates {', '.join(sorted(AGGREGATES))}"
)


@dataclass(frozen=True)
class Literal:
    value: float | str | bool


@dataclass(frozen=True)
class Column:
    """A column of the window's events: ``prediction``, ``score``, ``actual``, a feature or tag."""

    name: str


@dataclass(frozen=True)
class Unary:
    op: str  # "-" or "not"
    operand: Node


@dataclass(frozen=True)
class Binary:
    op: str  # + - * / == != < <= > >= and or
    left: Node
    right: Node


@dataclass(frozen=True)
class IfElse:
    cond: Node
    then: Node
    other: Node


@dataclass(frozen=True)
class Aggregate:
    """An aggregate over the window's rows: ``func(arg)``; ``q`` for ``quantile``."""

    func: str
    arg: Node | None = None
    q: float | None = None


@dataclass(frozen=True)
class Leaf:
    """The value of the expression's ``index``-th aggregate (in the window-level tree)."""

    index: int


Node = Literal | Column | Unary | Binary | IfElse | Aggregate | Leaf


@dataclass(frozen=True)
class KpiExpression:
    """A parsed KPI: its distinct aggregates and the window-level tree combining them."""

    text: str
    aggregates: tuple[Aggregate, ...]
    #: The window-level expression; its aggregates are :class:`Leaf` references.
    outer: Node

    @property
    def columns(self) -> frozenset[str]:
        """The columns the aggregates read."""
        out: set[str] = set()
        for a in self.aggregates:
            if a.arg is not None:
                out |= columns_of(a.arg)
        return frozenset(out)

    @property
    def uses_label(self) -> bool:
        """Whether it reads the label (then it is judged on labelled events only)."""
        return "actual" in self.columns


def columns_of(node: Node) -> set[str]:
    """The columns a row-level tree reads."""
    match node:
        case Column(name):
            return {name}
        case Unary(_, x):
            return columns_of(x)
        case Binary(_, a, b):
            return columns_of(a) | columns_of(b)
        case IfElse(c, a, b):
            return columns_of(c) | columns_of(a) | columns_of(b)
        case Aggregate(_, arg, _) if arg is not None:
            return columns_of(arg)
    return set()


def parse_kpi(text: str, *, columns: Collection[str], where: str = "expression") -> KpiExpression:
    """Parse and check a KPI expression against the model's ``columns`` (features and tags;
    ``prediction``, ``score`` and ``actual`` are always known). ``where``: the spec path named
    in errors (``monitors[2].expression``)."""
    return _Parser(text, columns, where).parse()


class _Parser:
    def __init__(self, text: str, columns: Collection[str], where: str) -> None:
        self.text = text
        self.columns = set(columns) | set(EVENT_FIELDS)
        self.where = where
        self.aggregates: list[Aggregate] = []

    def fail(self, must: str, got: object) -> ConfigError:
        return ConfigError(expected("field", self.where, must, got))

    def refuse(self, node: ast.AST, why: str) -> ConfigError:
        token = ast.get_source_segment(self.text, node) or type(node).__name__
        return self.fail(f"{_ALLOWED} ({why})", token)

    def parse(self) -> KpiExpression:
        if not isinstance(self.text, str) or not self.text.strip():
            raise self.fail("be a non-empty expression such as 'sum(revenue) / count()'", self.text)
        if len(self.text) > MAX_LENGTH:
            raise self.fail(f"be at most {MAX_LENGTH} characters", f"{len(self.text)} characters")
        try:
            tree = ast.parse(self.text.strip(), mode="eval")
        except SyntaxError as exc:
            raise self.fail(
                f"be a valid expression (syntax error at column {exc.offset})", self.text
            ) from exc
        except (RecursionError, MemoryError) as exc:  # e.g. thousands of nested unary minus
            raise self.fail(f"have at most {MAX_NODES} parts", "a deeper expression") from exc
        self.text = self.text.strip()
        if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
            raise self.fail(f"have at most {MAX_NODES} parts", "a longer expression")
        outer = self.node(tree.body, inside=False)
        if not self.aggregates:
            raise self.fail(
                "use at least one aggregate (" + ", ".join(sorted(AGGREGATES)) + ")", self.text
            )
        return KpiExpression(self.text, tuple(self.aggregates), outer)

    def node(self, n: ast.AST, *, inside: bool) -> Node:
        match n:
            case ast.Constant(value=bool() as v):
                return Literal(v)
            case ast.Constant(value=int() | float() as v):
                return Literal(float(v))
            case ast.Constant(value=str() as v):
                if not inside:
                    raise self.fail("compare strings with columns inside an aggregate", repr(v))
                return Literal(v)
            case ast.Name(id="True" | "False"):
                return Literal(n.id == "True")
            case ast.Name(id=name):
                return self.column(n, name, inside=inside)
            case ast.UnaryOp(op=ast.USub(), operand=x):
                return Unary("-", self.node(x, inside=inside))
            case ast.UnaryOp(op=ast.UAdd(), operand=x):
                return self.node(x, inside=inside)
            case ast.UnaryOp(op=ast.Not(), operand=x):
                return Unary("not", self.node(x, inside=inside))
            case ast.BinOp(op=op, left=a, right=b) if type(op) in _ARITH:
                return Binary(
                    _ARITH[type(op)], self.node(a, inside=inside), self.node(b, inside=inside)
                )
            case ast.BoolOp():
                name = "and" if isinstance(n.op, ast.And) else "or"
                out = self.node(n.values[0], inside=inside)
                for item in n.values[1:]:
                    out = Binary(name, out, self.node(item, inside=inside))
                return out
            case ast.Compare():
                parts = [self.node(n.left, inside=inside)]
                parts += [self.node(r, inside=inside) for r in n.comparators]
                out_c: Node | None = None
                for i, cop in enumerate(n.ops):
                    if type(cop) not in _CMP:
                        raise self.refuse(n, "comparisons are == != < <= > >=")
                    cmp = Binary(_CMP[type(cop)], parts[i], parts[i + 1])
                    out_c = cmp if out_c is None else Binary("and", out_c, cmp)
                assert out_c is not None
                return out_c
            case ast.Call():
                return self.call(n, inside=inside)
            case ast.Attribute():
                raise self.refuse(n, "no attribute access")
            case ast.Subscript():
                raise self.refuse(n, "no subscripts")
            case ast.Lambda():
                raise self.refuse(n, "no lambdas")
            case ast.BinOp():
                raise self.refuse(n, "arithmetic is + - * /")
        raise self.refuse(n, f"{type(n).__name__} is not allowed")

    def column(self, n: ast.AST, name: str, *, inside: bool) -> Node:
        if name in LABEL_NAMES:
            name = "actual"
        elif name not in self.columns:
            known = sorted(self.columns | {"actual"})
            raise self.fail(
                "name only the model's columns ("
                + ", ".join(known)
                + "; col('name') for any other spelling) and the functions "
                + ", ".join(sorted({*AGGREGATES, "if_else", "col"})),
                name,
            )
        if not inside:
            raise self.fail(
                f"read columns only inside an aggregate, e.g. sum({name}) or mean({name})", name
            )
        return Column(name)

    def call(self, n: ast.Call, *, inside: bool) -> Node:
        if not isinstance(n.func, ast.Name):
            raise self.refuse(n.func, "only calls of if_else, col and the aggregates")
        name = n.func.id
        if n.keywords:
            raise self.refuse(n, f"{name} takes no keyword arguments")
        args = n.args
        if name == "col":
            if len(args) != 1 or not (
                isinstance(args[0], ast.Constant) and isinstance(args[0].value, str)
            ):
                raise self.fail("call col with one column name in quotes", _seg(self.text, n))
            return self.column(n, args[0].value, inside=inside)
        if name == "if_else":
            if len(args) != 3:
                raise self.fail(
                    f"call if_else with 3 arguments (condition, then, else), not {len(args)}",
                    _seg(self.text, n),
                )
            c, a, b = (self.node(x, inside=inside) for x in args)
            return IfElse(c, a, b)
        if name not in AGGREGATES:
            raise self.refuse(n.func, f"{name!r} is not a function of the language")
        if inside:
            raise self.fail("not nest an aggregate inside another", _seg(self.text, n))
        lo, hi = AGGREGATES[name]
        if not lo <= len(args) <= hi:
            want = str(lo) if lo == hi else f"{lo} to {hi}"
            raise self.fail(
                f"call {name} with {want} argument{'s' if hi != 1 else ''}, not {len(args)}",
                _seg(self.text, n),
            )
        q = None
        if name == "quantile":
            qa = args[1]
            if not (
                isinstance(qa, ast.Constant)
                and isinstance(qa.value, int | float)
                and not isinstance(qa.value, bool)
                and 0.0 <= float(qa.value) <= 1.0
            ):
                raise self.fail(
                    "give quantile a number from 0 to 1 as its second argument",
                    _seg(self.text, n),
                )
            q = float(qa.value)
        arg = self.node(args[0], inside=True) if args else None
        agg = Aggregate(name, arg, q)
        if agg not in self.aggregates:
            self.aggregates.append(agg)
        return Leaf(self.aggregates.index(agg))


def _seg(text: str, node: ast.AST) -> str:
    return ast.get_source_segment(text, node) or type(node).__name__
