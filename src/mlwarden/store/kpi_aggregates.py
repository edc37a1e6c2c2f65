"""A KPI's aggregates per window, in the engine: one ibis query per window run and segment.

:class:`KpiTerms` carries a parsed KPI (``schema/kpi.py``). Its aggregates compile to one
``group_by(window).aggregate(...)``: ``sum`` a sum; ``mean`` and ``rate`` a sum and a count
(so windows merge by addition); ``count`` a count; ``min``, ``max``, ``quantile`` their value.
Only these numbers come back; the window-level arithmetic that combines them runs in Python on
a few scalars (``monitors/kpi_rows.py``), where a division by zero is a status, not an engine
error. Missing values follow SQL; a division by zero in a row is missing there (the same rules
as ``kpi_rows`` over arrays: its oracle).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlwarden._lazy import ibis
from mlwarden.schema.kpi import (
    Aggregate,
    Binary,
    Column,
    IfElse,
    KpiExpression,
    Literal,
    Node,
    Unary,
)
from mlwarden.schema.spec import _label

__all__ = ["KpiRows", "KpiTerms", "kpi_rows", "kpi_terms"]


@dataclass(frozen=True)
class KpiTerms:
    """The raw numbers of a KPI's aggregates per window: ``{"n": rows, "terms": [[...], ...]}``.
    ``labelled``: over the window's labelled events only (the KPI reads the label);
    ``label``: the stored label column (``actual``, or ``actual_value`` of a regressor)."""

    expression: KpiExpression
    labelled: bool = False
    label: str = "actual"


def _column(ev: Any, name: str, label: str) -> Any:
    return ev[label if name == "actual" else name]


def _cond(x: Any) -> Any:
    """A value as a condition (a number is true when not 0, as in ``kpi_rows``)."""
    if isinstance(x, bool | float | str):
        return ibis.literal(bool(x))
    return x if x.type().is_boolean() else _num(x) != 0.0


def _num(x: Any) -> Any:
    if isinstance(x, bool):
        return float(x)
    if not isinstance(x, float | str) and x.type().is_boolean():
        # not ``x.cast("float64")``: PostgreSQL has no boolean -> double precision cast
        # cast after: ibis writes 1.0 bare, PostgreSQL's numeric, whose sum is a Decimal
        return ibis.ifelse(x, 1, 0).cast("float64")
    return x


def _text(x: Any) -> bool:
    return isinstance(x, str) or (not isinstance(x, float | bool) and x.type().is_string())


def _compile(node: Node, ev: Any, label: str) -> Any:
    match node:
        case Literal(v):
            return v
        case Column(name):
            return _column(ev, name, label)
        case Unary("-", x):
            return -_num(_compile(x, ev, label))
        case Unary(_, x):
            return ~_cond(_compile(x, ev, label))
        case IfElse(c, a, b):
            then, other = _compile(a, ev, label), _compile(b, ev, label)
            if _text(then) != _text(other):
                then, other = _num(then), _num(other)
            return ibis.ifelse(_cond(_compile(c, ev, label)), then, other)
        case Binary(op, a, b):
            left, right = _compile(a, ev, label), _compile(b, ev, label)
            return _binary(op, left, right)
    raise TypeError(f"not a row-level node: {node!r}")


def _binary(op: str, left: Any, right: Any) -> Any:
    if op == "and":
        return _cond(left) & _cond(right)
    if op == "or":
        return _cond(left) | _cond(right)
    if op in ("==", "!=", "<", "<=", ">", ">="):
        if _text(left) and isinstance(right, float | bool):
            right = _label(right)
        elif _text(right) and isinstance(left, float | bool):
            left = _label(left)
        else:
            left, right = _num(left), _num(right)
        if isinstance(left, str | float):  # a literal on the left: flip, ibis wants a column
            left, right = right, left
            op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
        if isinstance(left, str | float):
            return ibis.literal(_fold(op, left, right))
        return _OPS[op](left, right)
    left, right = _num(left), _num(right)
    if isinstance(left, float) and isinstance(right, float):
        return _fold(op, left, right)
    if isinstance(left, float):
        left = ibis.literal(left, type="float64")
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    if isinstance(right, float):
        return left / right if right != 0.0 else ibis.null("float64")
    return ibis.ifelse(right == 0.0, ibis.null("float64"), left.cast("float64") / right)


def _fold(op: str, a: Any, b: Any) -> Any:
    """Two literals (nothing of a row in them)."""
    if op == "/":
        return a / b if b else float("nan")
    return _OPS[op](a, b)


_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
}


def _metrics(a: Aggregate, i: int, ev: Any, label: str) -> dict[str, Any]:
    if a.arg is None:  # count()
        return {f"t{i}_0": ev.count()}
    x = _num(_compile(a.arg, ev, label))
    if isinstance(x, float):
        x = ibis.literal(x, type="float64")
    elif isinstance(x, str):
        x = ibis.literal(x)
    xm = x
    if a.func == "count":
        return {f"t{i}_0": xm.count()}
    if a.func == "sum":
        return {f"t{i}_0": xm.sum()}
    if a.func in ("mean", "rate"):
        return {f"t{i}_0": xm.sum(), f"t{i}_1": xm.count()}
    if a.func == "min":
        return {f"t{i}_0": xm.min()}
    if a.func == "max":
        return {f"t{i}_0": xm.max()}
    return {f"t{i}_0": xm.quantile(a.q)}


def kpi_terms(ev: Any, r: KpiTerms) -> dict[int, dict[str, Any]]:
    """``{window: {"n": rows, "terms": raw numbers per aggregate}}`` of the windows' events
    ``ev`` (with their window index in ``_w``; labelled events when ``r.labelled``)."""
    if r.labelled:
        ev = ev.filter(ev[r.label].notnull())
    metrics: dict[str, Any] = {"_n": ev.count()}
    widths = []
    for i, a in enumerate(r.expression.aggregates):
        m = _metrics(a, i, ev, r.label)
        widths.append(len(m))
        metrics.update(m)
    table = ev.group_by("_w").aggregate(**metrics).to_pyarrow()
    out: dict[int, dict[str, Any]] = {}
    for row in table.to_pylist():
        terms = []
        for i, k in enumerate(widths):
            vals = [row[f"t{i}_{j}"] for j in range(k)]
            terms.append([None if v is None else float(v) for v in vals])
        out[int(row["_w"])] = {"n": int(row["_n"]), "terms": terms}
    return out


@dataclass(frozen=True)
class KpiRows:
    """Every row of a window, its events with the label where one arrived (``actual``), for
    a KPI written as a Python function. The one request that returns a window whole, so only
    batch reports (one in-memory window the caller handed over) use it; ``limit`` bounds it.
    ``label``: the stored label column (``actual``, or ``actual_value`` of a regressor)."""

    label: str = "actual"
    limit: int = 10_000_000


#: Columns of stored events that are the store's own, not the model's.
_INTERNAL = ("_w", "received_at", "event_id_a")


def kpi_rows(ev: Any, actuals: Any, r: KpiRows) -> dict[int, Any]:
    """``{window: Arrow table}`` of the windows' events ``ev`` (with ``_w``) and ``actuals``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    ac = actuals.select(event_id_a=actuals.event_id, actual=actuals[r.label])
    joined = ev.left_join(ac, ev.event_id == ac.event_id_a)
    table: pa.Table = joined.limit(r.limit).to_pyarrow()
    ws = table.column("_w").to_numpy()
    keep = [c for c in table.column_names if c not in _INTERNAL]
    out: dict[int, Any] = {}
    for w in sorted({int(x) for x in ws}):
        out[w] = table.filter(pc.equal(table.column("_w"), w)).select(keep)
    return out
