"""The scheduler's questions about a model's event and label times, in SQL both engines speak.

Mixed into :class:`~mlwarden.store.duckdb_engine.DuckDBStore` and
:class:`~mlwarden.store.pg_engine.PostgresStore`, which provide ``_read(sql, params)`` with
``?`` placeholders over the tables ``events_<uid>`` and ``actuals_<uid>``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mlwarden.schema.limits import EARLIEST_EVENT_TIME, LATEST_TIME
from mlwarden.store.times import utc_naive

if TYPE_CHECKING:
    from mlwarden.store.base import ModelRecord

__all__ = ["IN_RANGE", "EventTimes", "quote_ident"]

#: a timestamp column ``{ts}`` within the accepted range (rows outside it are never read)
IN_RANGE = (
    f"{{ts}} >= TIMESTAMP '{utc_naive(EARLIEST_EVENT_TIME)}' "
    f"AND {{ts}} < TIMESTAMP '{utc_naive(LATEST_TIME)}'"
)


def quote_ident(name: str) -> str:
    """A quoted SQL identifier.

    >>> quote_ident('events_3'), quote_ident('a"b')
    ('"events_3"', '"a""b"')
    """
    return '"' + name.replace('"', '""') + '"'


def _pair(rows: list[tuple[Any, ...]]) -> tuple[Any, Any]:
    return (rows[0][0], rows[0][1]) if rows else (None, None)


class EventTimes:
    """When a model's events and labels were received, and which event times they cover."""

    _read: Callable[..., list[tuple[Any, ...]]]

    def latest_label_time(self, model: ModelRecord) -> datetime | None:
        row = self._read(f"SELECT max(received_at) FROM {quote_ident(f'actuals_{model.uid}')}")
        return row[0][0] if row else None

    def labelled_event_range(self, model: ModelRecord, since: datetime) -> tuple[Any, Any]:
        """Earliest and latest event time of labels received after ``since``."""
        return _pair(
            self._read(
                f"SELECT min(e.ts), max(e.ts) FROM {quote_ident(f'actuals_{model.uid}')} a "
                f"JOIN {quote_ident(f'events_{model.uid}')} e USING (event_id) "
                f"WHERE a.received_at > ? AND {IN_RANGE.format(ts='e.ts')}",
                [utc_naive(since)],
            )
        )

    def event_time_range(self, model: ModelRecord) -> tuple[Any, Any]:
        return _pair(
            self._read(
                f"SELECT min(ts), max(ts) FROM {quote_ident(f'events_{model.uid}')} "
                f"WHERE {IN_RANGE.format(ts='ts')}"
            )
        )

    def latest_event_receipt(self, model: ModelRecord) -> datetime | None:
        row = self._read(f"SELECT max(received_at) FROM {quote_ident(f'events_{model.uid}')}")
        return row[0][0] if row else None

    def late_event_range(
        self, model: ModelRecord, since: datetime, until: datetime, before: datetime
    ) -> tuple[Any, Any]:
        """Event times (before ``before``) of events received in (``since``, ``until``]."""
        return _pair(
            self._read(
                f"SELECT min(ts), max(ts) FROM {quote_ident(f'events_{model.uid}')} "
                "WHERE received_at > ? AND received_at <= ? AND ts < ? "
                f"AND {IN_RANGE.format(ts='ts')}",
                [utc_naive(since), utc_naive(until), utc_naive(before)],
            )
        )
