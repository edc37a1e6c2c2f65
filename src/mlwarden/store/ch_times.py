"""The scheduler's questions about a model's event and label times, in ClickHouse's SQL (as
:mod:`.sql_event_times` for DuckDB and PostgreSQL): ``minOrNull`` / ``maxOrNull``, since
ClickHouse's ``min`` of no rows is the type's zero (1970), not null."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from mlwarden.store.base import ModelRecord
from mlwarden.store.ch_connection import q, ts_literal
from mlwarden.store.times import utc_naive

__all__ = ["ChEventTimes"]


class ChEventTimes:
    """When a model's events and labels were received, and which event times they cover;
    ``read(sql)`` gives rows as dicts (times naive UTC)."""

    read: Callable[[str], list[dict[str, Any]]]

    def _pair(self, sql: str) -> tuple[Any, Any]:
        rows = self.read(sql)
        return (rows[0]["lo"], rows[0]["hi"]) if rows else (None, None)

    def latest_label_time(self, model: ModelRecord) -> datetime | None:
        rows = self.read(f"SELECT maxOrNull(received_at) AS t FROM {q(f'actuals_{model.uid}')}")
        return rows[0]["t"] if rows else None

    def labelled_event_range(self, model: ModelRecord, since: datetime) -> tuple[Any, Any]:
        return self._pair(
            f"SELECT minOrNull(e.ts) AS lo, maxOrNull(e.ts) AS hi "
            f"FROM {q(f'actuals_{model.uid}_v')} AS a "
            f"INNER JOIN {q(f'events_{model.uid}_v')} AS e ON a.event_id = e.event_id "
            f"WHERE a.received_at > {ts_literal(utc_naive(since))} AND {_in_range('e.ts')}"
        )

    def event_time_range(self, model: ModelRecord) -> tuple[Any, Any]:
        return self._pair(
            f"SELECT minOrNull(ts) AS lo, maxOrNull(ts) AS hi FROM {q(f'events_{model.uid}')} "
            f"WHERE {_in_range('ts')}"
        )

    def latest_event_receipt(self, model: ModelRecord) -> datetime | None:
        rows = self.read(f"SELECT maxOrNull(received_at) AS t FROM {q(f'events_{model.uid}')}")
        return rows[0]["t"] if rows else None

    def late_event_range(
        self, model: ModelRecord, since: datetime, until: datetime, before: datetime
    ) -> tuple[Any, Any]:
        return self._pair(
            f"SELECT minOrNull(ts) AS lo, maxOrNull(ts) AS hi FROM {q(f'events_{model.uid}')} "
            f"WHERE received_at > {ts_literal(utc_naive(since))} "
            f"AND received_at <= {ts_literal(utc_naive(until))} "
            f"AND ts < {ts_literal(utc_naive(before))} AND {_in_range('ts')}"
        )


def _in_range(col: str) -> str:
    """A timestamp column within the accepted range (as :data:`.sql_event_times.IN_RANGE`)."""
    from mlwarden.schema.limits import EARLIEST_EVENT_TIME, LATEST_TIME

    return (
        f"{col} >= {ts_literal(utc_naive(EARLIEST_EVENT_TIME))} "
        f"AND {col} < {ts_literal(utc_naive(LATEST_TIME))}"
    )
