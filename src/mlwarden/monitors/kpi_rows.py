"""KPI expressions over rows in numpy: the reference's value, its bootstrap, and the rescaling
of that bootstrap to any window size.

The engine returns a KPI's aggregates as raw numbers per window (``store/kpi_aggregates.py``):
``sum`` its sum; ``mean`` and ``rate`` a sum and a count; ``count`` a count; ``min``, ``max``
and ``quantile`` a value. :func:`raw_terms` computes the same numbers over rows here, so a
window, the reference and each bootstrap draw go through one :func:`leaf_values` and one
:func:`combine`. Missing values follow SQL, in the engine and here alike: an operation on a
missing value (or a division by zero) is missing, and an aggregate leaves missing values out;
``if_else`` with a missing condition takes its else branch; ``and`` / ``or`` are three-valued
(false and missing is false, true or missing is true).

Examples
--------
>>> from mlwarden.schema.kpi import parse_kpi
>>> e = parse_kpi("1000 * sum(revenue) / count()", columns={"revenue"})
>>> cols = {"revenue": np.array([1.0, 2.0, np.nan, 3.0])}
>>> float(combine(e, leaf_values(e, raw_terms(e, cols, rows=4))))
1500.0
"""

from __future__ import annotations

import operator
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from mlwarden.schema.kpi import (
    Aggregate,
    Binary,
    Column,
    IfElse,
    KpiExpression,
    Leaf,
    Literal,
    Node,
    Unary,
)
from mlwarden.schema.spec import _label

__all__ = [
    "EXTENSIVE",
    "Arrays",
    "bootstrap_terms",
    "combine",
    "leaf_values",
    "raw_terms",
    "rescale",
]

Arrays = Mapping[str, npt.NDArray[Any]]
#: Aggregates that grow with the window's rows (their spread grows as its square root).
EXTENSIVE = frozenset({"sum", "count"})
#: Aggregates whose value is a typical row's (their spread shrinks as one over its root).
INTENSIVE = frozenset({"mean", "rate", "quantile"})


def _missing(a: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    if a.dtype == object:
        return np.asarray([v is None for v in a.tolist()], dtype=np.bool_)
    if a.dtype.kind == "f":
        return np.asarray(np.isnan(a), dtype=bool)
    return np.zeros(a.shape, dtype=bool)


def _num(a: Any) -> Any:
    return a.astype(np.float64) if isinstance(a, np.ndarray) and a.dtype == bool else a


def _is_text(a: Any) -> bool:
    return isinstance(a, str) or (isinstance(a, np.ndarray) and a.dtype == object)


def _row(node: Node, cols: Arrays, rows: int) -> tuple[Any, npt.NDArray[np.bool_]]:
    """A row-level tree over arrays: (values, which rows have one), with SQL's rules for
    missing values (see the module's docstring)."""
    every = np.ones(rows, dtype=bool)
    match node:
        case Literal(v):
            return v, every
        case Column(name):
            return cols[name], ~_missing(cols[name])
        case Unary("-", x):
            v, ok = _row(x, cols, rows)
            return -_num(v), ok
        case Unary(_, x):
            v, ok = _row(x, cols, rows)
            return np.logical_not(_bool(v, ok)), ok
        case IfElse(c, a, b):
            (cv, cok), (av, aok), (bv, bok) = (_row(n, cols, rows) for n in (c, a, b))
            take = _bool(cv, cok) & cok  # a missing condition takes the else branch (SQL)
            return np.where(take, av, bv), np.where(take, aok, bok)
        case Binary(op, a, b):
            (av, aok), (bv, bok) = _row(a, cols, rows), _row(b, cols, rows)
            if op == "and":  # three-valued: false wins over missing
                p, q = _bool(av, aok), _bool(bv, bok)
                return (p | ~aok) & (q | ~bok), (aok & bok) | (aok & ~p) | (bok & ~q)
            if op == "or":  # three-valued: true wins over missing
                p, q = _bool(av, aok), _bool(bv, bok)
                return (p & aok) | (q & bok), (aok & bok) | (aok & p) | (bok & q)
            ok = aok & bok
            if op == "/":
                ok = ok & ~np.asarray(np.equal(_num(bv), 0.0), dtype=bool)
            return _apply(op, av, bv), np.broadcast_to(ok, (rows,))
    raise TypeError(f"not a row-level node: {node!r}")


def _bool(v: Any, ok: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """A condition's values as booleans (a missing one False: its ``ok`` says so)."""
    arr = np.broadcast_to(np.asarray(v), ok.shape)
    if arr.dtype == object:
        return np.asarray([bool(x) for x in arr.tolist()], dtype=bool) & ok
    with np.errstate(invalid="ignore"):
        return np.asarray(np.nan_to_num(arr.astype(float)) != 0, dtype=bool) & ok


def _apply(op: str, left: Any, right: Any) -> Any:
    if op in ("and", "or"):
        fn = np.logical_and if op == "and" else np.logical_or
        return fn(left, right)
    if op in ("==", "!=", "<", "<=", ">", ">="):
        # a label column compared with a number compares with its label ("1" for 1)
        if _is_text(left) and isinstance(right, float | bool):
            right = _label(right)
        elif _is_text(right) and isinstance(left, float | bool):
            left = _label(left)
        else:
            left, right = _num(left), _num(right)
        if op in ("==", "!=") and (_is_text(left) or _is_text(right)):
            fn_eq = np.equal if op == "==" else np.not_equal  # elementwise on objects
            return np.asarray(fn_eq(np.asarray(left, dtype=object), right), dtype=bool)
        if _is_text(left) or _is_text(right):  # None (missing) compares as anything: masked
            fn2 = _CMP[op]
            la = left if isinstance(left, np.ndarray) else None
            ra = right if isinstance(right, np.ndarray) else None
            size = len(la) if la is not None else len(ra) if ra is not None else 1
            out = [
                x is not None and y is not None and fn2(x, y)
                for x, y in zip(
                    la.tolist() if la is not None else [left] * size,
                    ra.tolist() if ra is not None else [right] * size,
                    strict=True,
                )
            ]
            return np.asarray(out, dtype=bool)
        return _CMP[op](left, right)
    left, right = _num(left), _num(right)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if op == "+":
            return np.add(left, right)
        if op == "-":
            return np.subtract(left, right)
        if op == "*":
            return np.multiply(left, right)
        return np.divide(left, np.where(np.equal(right, 0.0), 1.0, right))


_CMP: dict[str, Any] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _values(a: Aggregate, cols: Arrays, rows: int) -> tuple[Any, npt.NDArray[np.bool_]]:
    """The aggregate's argument per row and the rows that have one (count for it)."""
    if a.arg is None:
        return None, np.ones(rows, dtype=bool)
    x, ok = _row(a.arg, cols, rows)
    x = np.broadcast_to(np.asarray(x), (rows,))
    keep = np.array(ok, dtype=bool)
    if x.dtype.kind == "f":
        keep &= ~np.isnan(x)
    return x, keep


def raw_terms(e: KpiExpression, cols: Arrays, *, rows: int) -> list[list[float | None]]:
    """Each aggregate's raw numbers over ``rows`` rows (see the module's docstring)."""
    out: list[list[float | None]] = []
    for a in e.aggregates:
        x, keep = _values(a, cols, rows)
        if a.func == "count" and x is None:
            out.append([float(rows)])
            continue
        kept = _num(np.asarray(x)[keep]) if x is not None else np.zeros(0)
        if a.func == "count":
            out.append([float(keep.sum())])
        elif a.func == "sum":
            out.append([float(np.sum(kept))])
        elif a.func in ("mean", "rate"):
            out.append([float(np.sum(kept)), float(len(kept))])
        elif not len(kept):
            out.append([None])
        elif a.func == "min":
            out.append([float(np.min(kept))])
        elif a.func == "max":
            out.append([float(np.max(kept))])
        else:
            assert a.q is not None
            out.append([float(np.quantile(kept, a.q))])
    return out


def leaf_values(e: KpiExpression, raw: Sequence[Sequence[Any]]) -> list[Any]:
    """The aggregates' values from their raw numbers (NaN where undefined); the raw numbers
    may be arrays (one per bootstrap draw)."""
    out: list[Any] = []
    for a, r in zip(e.aggregates, raw, strict=True):
        vals = [np.nan if v is None else v for v in r]
        if a.func in ("mean", "rate"):
            with np.errstate(divide="ignore", invalid="ignore"):
                s, c = np.asarray(vals[0], dtype=float), np.asarray(vals[1], dtype=float)
                out.append(np.where(c > 0, s / np.where(c > 0, c, 1.0), np.nan))
        else:
            out.append(np.asarray(vals[0], dtype=float))
    return out


def combine(e: KpiExpression, leaves: Sequence[Any]) -> Any:
    """The window-level value from the aggregates' values (NaN where undefined, e.g. a
    division by zero)."""
    return _outer(e.outer, leaves)


def _outer(node: Node, leaves: Sequence[Any]) -> Any:
    match node:
        case Leaf(i):
            return leaves[i]
        case Literal(v):
            return float(v) if isinstance(v, bool | float) else np.nan
        case Unary("-", x):
            return -_num(_outer(x, leaves))
        case Unary(_, x):
            return np.logical_not(_outer(x, leaves))
        case IfElse(c, a, b):
            return np.where(_outer(c, leaves), _outer(a, leaves), _outer(b, leaves))
        case Binary(op, a, b):
            left, right = _outer(a, leaves), _outer(b, leaves)
            if op == "/":
                with np.errstate(divide="ignore", invalid="ignore"):
                    zero = np.equal(right, 0.0)
                    q = np.divide(_num(left), np.where(zero, 1.0, right))
                    return np.where(zero, np.nan, q)
            return _apply(op, left, right)
    raise TypeError(f"not a window-level node: {node!r}")


def bootstrap_terms(
    e: KpiExpression, cols: Arrays, *, rows: int, size: int, reps: int, seed: int = 0
) -> list[list[npt.NDArray[np.float64]]]:
    """Raw numbers of each aggregate in ``reps`` draws of ``size`` rows with replacement,
    all draws computed at once (arrays of ``reps`` values)."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, rows, (reps, size))
    out: list[list[npt.NDArray[np.float64]]] = []
    for a in e.aggregates:
        x, keep = _values(a, cols, rows)
        k = keep[idx]
        if a.func == "count":
            c = k.sum(axis=1).astype(float) if x is not None else np.full(reps, float(size))
            out.append([c])
            continue
        assert x is not None
        xv = _num(np.asarray(x))
        xs = np.where(k, xv[idx], np.nan)
        if a.func == "sum":
            out.append([np.nansum(xs, axis=1)])
        elif a.func in ("mean", "rate"):
            out.append([np.nansum(xs, axis=1), k.sum(axis=1).astype(float)])
        else:
            with np.errstate(invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a draw with no rows: NaN
                fn = {"min": np.nanmin, "max": np.nanmax}.get(a.func)
                v = fn(xs, axis=1) if fn else np.nanquantile(xs, a.q or 0.0, axis=1)
            out.append([np.asarray(v, dtype=float)])
    return out


def rescale(
    e: KpiExpression,
    leaves: Sequence[npt.NDArray[np.float64]],
    centers: Sequence[float],
    *,
    size: int,
    n: int,
    reference_rows: int,
) -> tuple[list[Any], list[Any]]:
    """Bootstrap draws of the aggregates at ``size`` rows, moved to a window of ``n`` rows:
    (draws at ``n``, expected values at ``n``).

    ``centers``: each aggregate's reference value per row (sum, count) or per typical row
    (mean, rate, quantile). A sum's deviation grows as ``sqrt(n)``, a mean's shrinks as
    ``1/sqrt(n)``; both widen by ``sqrt(1 + n / reference_rows)`` for the reference's own
    error. ``count()`` of a window is its size, no spread. ``min`` and ``max`` are not moved
    (their law at other sizes is not a rescaling): a KPI of them is judged at the spread of
    ``size`` rows.
    """
    widen = np.sqrt(1.0 + n / max(reference_rows, 1))
    draws: list[Any] = []
    expect: list[Any] = []
    for a, v, c in zip(e.aggregates, leaves, centers, strict=True):
        if a.func == "count" and a.arg is None:
            draws.append(np.full(len(v), float(n)))
            expect.append(float(n))
        elif a.func in EXTENSIVE:
            draws.append(n * c + (v - size * c) * np.sqrt(n / size) * widen)
            expect.append(n * c)
        elif a.func in INTENSIVE:
            draws.append(c + (v - c) * np.sqrt(size / n) * widen)
            expect.append(c)
        else:
            draws.append(v)
            expect.append(c)
    return draws, expect
