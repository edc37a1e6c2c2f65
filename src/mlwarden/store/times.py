"""Timestamps as the store keeps them: UTC without a zone (engines disagree on zoned types)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload

import pyarrow as pa

__all__ = ["stamp_received", "utc_aware", "utc_naive"]


@overload
def utc_naive(t: datetime) -> datetime: ...
@overload
def utc_naive(t: None) -> None: ...
def utc_naive(t: datetime | None) -> datetime | None:
    """A zoned time converted to UTC, zone dropped; a naive time is taken as UTC already.

    Examples
    --------
    >>> from datetime import timedelta, timezone
    >>> utc_naive(datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2))))
    datetime.datetime(2026, 1, 1, 10, 0)
    """
    if t is None or t.tzinfo is None:
        return t
    return t.astimezone(UTC).replace(tzinfo=None)


@overload
def utc_aware(t: datetime) -> datetime: ...
@overload
def utc_aware(t: None) -> None: ...
def utc_aware(t: datetime | None) -> datetime | None:
    """A stored (naive UTC) time with its zone back; zoned times are returned as they are.

    Examples
    --------
    >>> utc_aware(datetime(2026, 1, 1)).isoformat()
    '2026-01-01T00:00:00+00:00'
    """
    return None if t is None else (t if t.tzinfo else t.replace(tzinfo=UTC))


def stamp_received(table: pa.Table, now: datetime) -> pa.Table:
    """``table`` with a ``received_at`` column of ``now``, unless it carries one already: a
    migration (:mod:`mlwarden.store.transfer`) keeps the source's arrival times. Clients cannot
    send one (``received_at`` is a reserved field).

    Examples
    --------
    >>> t = stamp_received(pa.table({"a": [1]}), datetime(2026, 1, 1))
    >>> t.column("received_at").to_pylist()
    [datetime.datetime(2026, 1, 1, 0, 0)]
    >>> stamp_received(t, datetime(2027, 1, 1)).column("received_at").to_pylist()
    [datetime.datetime(2026, 1, 1, 0, 0)]
    """
    if "received_at" in table.column_names:
        return table
    return table.append_column("received_at", pa.array([now] * table.num_rows, pa.timestamp("us")))
