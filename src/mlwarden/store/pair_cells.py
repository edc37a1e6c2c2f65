"""Pair cells: the counts a paired champion / challenger comparison reads, kept per hour.

Two versions that scored the same request (a challenger in shadow) have events of the same
event id. Joining them (and their label) per comparison is the cost of the comparison: at
10M events, seconds of hash joins. A store that keeps *pair cells* does that join once per
hour of events, when the hour's events or labels change, and a comparison sums counts:

* ``grid``: pairs per (champion score bin, challenger score bin, outcome flags), the bins of
  :data:`GRID_BINS` per version (-1: no score), the flags of :data:`FLAGS`;
* ``days``: pairs per (day, flags);
* ``slices``: per slice column, pairs per (value, flags); a numeric column's value is its
  :func:`numeric_code` (fixed log-spaced bins, so hours merge by addition and quartiles come
  back from the counts to within one bin, 2.3%).

A cell is the pair of two events of the same id **in the same hour** (a shadow event carries
the champion's time); the engine keys it on the two versions in name order, and
:meth:`PairCells.oriented` turns it to the champion's side. Engines that keep no cells simply
do not implement :class:`PairCellSource`; the comparison then joins the raw events.

Examples
--------
>>> [numeric_code(x) for x in (0.0, 1.0, 10.0, -1.0, None)]
[0, 1501, 1601, -1501, None]
>>> [round(code_edge(c), 6) for c in (0, 1501, 1601, -1501)]
[0.0, 1.0, 10.0, -1.023293]
>>> swap_flags(FLAGS["pa"] | FLAGS["oka"]) == FLAGS["pb"] | FLAGS["okb"]
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "FLAGS",
    "GRID_BINS",
    "PairCellSource",
    "PairCells",
    "code_edge",
    "numeric_code",
    "swap_flags",
]

#: Score bins per version of the grid (the comparison's DeLong grid: scores rounded to 0.01).
GRID_BINS = 100
#: Outcome flags of a pair, one bit each: labelled, actually positive, each version says
#: positive, each is right, they agree.
FLAGS = {"lab": 1, "pos": 2, "pa": 4, "pb": 8, "oka": 16, "okb": 32, "agree": 64}
#: Log-spaced bins per decade of a numeric slice column, and the decades each side of 1.
CODE_BINS = 100
CODE_DECADES = 15
_OFFSET = CODE_BINS * CODE_DECADES + 1


def numeric_code(x: float | None) -> int | None:
    """The fixed bin of a numeric value: 0 for zero, ``+-(offset + floor(100 log10|x|))`` else
    (clamped to 15 decades each side of 1); None for a missing value. Codes sort as values."""
    if x is None or math.isnan(x):
        return None
    if x == 0:
        return 0
    k = max(-CODE_BINS * CODE_DECADES, min(CODE_BINS * CODE_DECADES,
                                           math.floor(math.log10(abs(x)) * CODE_BINS)))  # fmt: skip
    return (_OFFSET + k) if x > 0 else -(_OFFSET + k)


def numeric_code_sql(column: str) -> str:
    """:func:`numeric_code` in SQL (DuckDB) of a quoted column name."""
    x = f"CAST({column} AS DOUBLE)"
    lim = CODE_BINS * CODE_DECADES
    k = f"least(greatest(floor(log10(abs({x})) * {CODE_BINS}), -{lim}), {lim})"
    return (
        f"CAST(CASE WHEN {x} IS NULL OR isnan({x}) THEN NULL WHEN {x} = 0 THEN 0 "
        f"WHEN {x} > 0 THEN {_OFFSET} + {k} ELSE -({_OFFSET} + {k}) END AS INTEGER)"
    )


def code_edge(code: int) -> float:
    """The value at which bin ``code`` starts (in value order): ``x >= code_edge(c)`` holds for
    the values of codes ``>= c`` (up to the edge itself for negative values)."""
    if code == 0:
        return 0.0
    if code > 0:
        return float(10 ** ((code - _OFFSET) / CODE_BINS))
    return -float(10 ** ((-code - _OFFSET + 1) / CODE_BINS))


def swap_flags(flags: Any) -> Any:
    """Flags of the pair seen from the other version (``pa``/``pb``, ``oka``/``okb`` swapped);
    works on ints and numpy arrays."""
    keep = FLAGS["lab"] | FLAGS["pos"] | FLAGS["agree"]
    return (
        (flags & keep)
        | ((flags & FLAGS["pa"]) << 1)
        | ((flags & FLAGS["pb"]) >> 1)
        | ((flags & FLAGS["oka"]) << 1)
        | ((flags & FLAGS["okb"]) >> 1)
    )


@dataclass(frozen=True)
class PairCells:
    """A range's pair cells of two versions, summed over its hours (arrays of equal length).

    ``grid``: ``ba``, ``bb``, ``flags``, ``n``; ``days``: ``day`` (objects), ``flags``, ``n``;
    ``slices``: column -> (values, flags, n), values strings or numeric codes."""

    grid: dict[str, np.ndarray[Any, Any]]
    days: dict[str, np.ndarray[Any, Any]]
    slices: dict[str, tuple[list[Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]]

    @property
    def pairs(self) -> int:
        return int(self.grid["n"].sum())

    def oriented(self, *, swapped: bool) -> PairCells:
        """The same cells with version a and b exchanged when ``swapped``."""
        if not swapped:
            return self
        g = self.grid
        grid = {"ba": g["bb"], "bb": g["ba"], "flags": swap_flags(g["flags"]), "n": g["n"]}
        days = {**self.days, "flags": swap_flags(self.days["flags"])}
        slices = {c: (v, swap_flags(f), n) for c, (v, f, n) in self.slices.items()}
        return PairCells(grid=grid, days=days, slices=slices)


@runtime_checkable
class PairCellSource(Protocol):
    """A store that keeps pair cells (DuckDB: :mod:`mlwarden.store.duckdb_pairs`)."""

    def pair_cells(
        self,
        model: Any,
        *,
        versions: tuple[str, str],
        start: datetime | None,
        end: datetime | None,
        columns: Sequence[str],
    ) -> PairCells | None:
        """The cells of ``versions`` (in the given order) over whole hours ``[start, end)``,
        brought up to date first; None when they cannot serve this request (a range not on
        whole hours, a slice column the cells do not keep)."""
        ...
