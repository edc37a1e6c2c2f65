"""The model's traffic: its events without the shadow predictions.

A shadow prediction is another version's answer to a request the champion served (logged
with the champion's event id, ``shadow`` true). It is stored for the champion / challenger
comparison, but it is not traffic: counted with the rest, turning shadow on would double the
volume, mix the challenger's outputs into the champion's prediction drift and performance,
and show feature drift each request twice. Every engine hands out its events through
:func:`traffic` unless the caller asks for the shadow rows too (``events(model,
shadow=True)``). Rows stored before the column existed (null) are traffic.

Examples
--------
>>> SQL_TRAFFIC
'shadow IS NOT TRUE'
"""

from __future__ import annotations

from typing import Any

__all__ = ["SHADOW", "SQL_TRAFFIC", "sql_traffic", "traffic"]

#: The boolean event column marking a shadow prediction.
SHADOW = "shadow"
#: The SQL condition of a traffic row (null: stored before shadow rows were marked).
SQL_TRAFFIC = f"{SHADOW} IS NOT TRUE"


def traffic(events: Any) -> Any:
    """The ibis table ``events`` without its shadow rows (as is when it has no such column:
    a table made before the column, not yet evolved, holds no shadow rows)."""
    if SHADOW not in events.columns:
        return events
    col = events[SHADOW]
    return events.filter(col.isnull() | ~col)


def sql_traffic(columns: set[str] | frozenset[str]) -> str:
    """The SQL condition of traffic rows of a table of ``columns`` (``TRUE`` when it has no
    ``shadow`` column).

    >>> sql_traffic({"event_id", "shadow"}), sql_traffic({"event_id"})
    ('shadow IS NOT TRUE', 'TRUE')
    """
    return SQL_TRAFFIC if SHADOW in columns else "TRUE"
