"""Hourly roll-ups on PostgreSQL, computed when read.

:func:`mlwarden.store.rollups.compute_events` and :func:`~mlwarden.store.rollups.compute_labels`
are the ibis computation every engine's roll-ups are checked against; PostgreSQL runs them over
the asked range of raw events on each read (its indexes on ``ts`` keep a page's range cheap at
the volumes this engine is for) instead of keeping them in tables, so there is nothing to
refresh and nothing that can go stale across server processes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from mlwarden.store.base import ModelRecord
from mlwarden.store.rollups import Rollup, compute_events, compute_labels
from mlwarden.store.times import utc_naive

__all__ = ["PgRollups"]


class PgRollups:
    """Roll-ups for :class:`~mlwarden.store.pg_engine.PostgresStore`."""

    def events(self, model: ModelRecord, *, shadow: bool = False) -> Any: ...

    actuals: Callable[[ModelRecord], Any]

    def rollup(
        self, model: ModelRecord, *, start: datetime, end: datetime, labels: bool = False
    ) -> Rollup:
        """The hourly roll-ups of ``[start, end)`` from the stored events, labels included
        when asked (up to date as of now)."""
        ev = self.events(model)
        ev = ev.filter(ev.ts >= utc_naive(start), ev.ts < utc_naive(end))
        ops, latency, features = compute_events(ev, model.spec)
        lab, as_of = None, None
        if labels and model.spec.task.is_classification:
            as_of = datetime.now(UTC).replace(tzinfo=None)
            lab = compute_labels(ev, self.actuals(model), model.spec)
        return Rollup(ops, latency, features, lab, as_of)

    def refresh_rollups(self, model: ModelRecord, *, wait: bool = True) -> None:
        """Nothing to refresh: roll-ups are computed when read."""
