"""KPI expressions over rows in numpy: the reference's value, its bootstrap, and the rescaling
of that bootstrap to any window size.

The engine returns a KPI's aggregates as raw numbers per window (``store/kpi_aggregates.py``):
``sum`` its sum; ``mean`` and ``rate`` a sum and a count; ``count`` a count; ``min``, ``max``
and ``quantile`` a value. :func:`raw_terms` computes the same numbers over rows here, so a
window, the reference and each bootstrap draw go through one :func:`leaf_values` and one
:func:`combine`. A row where a column an aggregate reads is missing (or where a division
inside it is by zero) is left out of that aggregate, in the engine and here alike.

Examples
--------
>>> from mlwarden.schema.kpi import parse_kpi
>>> e = parse_kpi("1000 * sum(revenue) / count()", columns={"revenue"})
>>> cols = {"revenue": np.array([1.0, 2.0, np.nan, 3.0])}
>>> float(combine(e, leaf_values(e, raw_terms(e, cols, rows=4))))
1500.0
"""

from __future__ import annotations

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
    columns_of,
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


def _row(node: Node, cols: Arrays, bad: list[npt.NDArray[np.bool_]]) -> Any:
    """A row-level tree over arrays; ``bad`` collects rows made null (division by zero)."""
    match node:
        case Literal(v):
            return v
        case Column(name):
            return cols[name]
        case Unary("-", x):
            return -_num(_row(x, cols, bad))
        case Unary(_, x):
            return np.logical_not(_row(x, cols, bad))
        case IfElse(c, a, b):
            return np.where(_row(c, cols, bad), _row(a, cols, bad), _row(b, cols, bad))
        case Binary(op, a, b):
            left, right = _row(a, cols, bad), _row(b, cols, bad)
            return _apply(op, left, right, bad)
    raise TypeError(f"not a row-level node: {node!r}")


def _apply(op: str, left: Any, right: Any, bad: list[npt.NDArray[np.bool_]] | None) -> Any:
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
        return {
            "==": np.equal,
            "!=": np.not_equal,
            "<": np.less,
            "<=": np.less_equal,
            ">": np.greater,
            ">=": np.greater_equal,
        }[op](left, right)
    left, right = _num(left), _num(right)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if op == "+":
            return np.add(left, right)
        if op == "-":
            return np.subtract(left, right)
        if op == "*":
            return np.multiply(left, right)
        zero = np.equal(right, 0.0)
        if bad is not None and np.any(zero):
            bad.append(np.broadcast_to(zero, np.shape(np.asarray(left) + np.asarray(right))))
        return np.divide(left, np.where(zero, 1.0, right))


def _values(a: Aggregate, cols: Arrays, rows: int) -> tuple[Any, npt.NDArray[np.bool_]]:
    """The aggregate's argument per row and the rows that count for it."""
    keep = np.ones(rows, dtype=bool)
    if a.arg is None:
        return None, keep
    for name in columns_of(a.arg):
        keep &= ~_missing(cols[name])
    bad: list[npt.NDArray[np.bool_]] = []
    x = np.broadcast_to(np.asarray(_row(a.arg, cols, bad)), (rows,))
    for b in bad:
        keep &= ~b
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
            return _apply(op, left, right, None)
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
