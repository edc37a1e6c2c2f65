"""Removing a model's events in ClickHouse: a model's tables dropped, a version's rows
deleted, retention (lightweight deletes, visible to the next read; the tables' TTL does the
same in the background)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from mlwarden.store.base import ModelRecord
from mlwarden.store.ch_connection import q, ts_literal
from mlwarden.store.times import utc_naive

__all__ = ["ChRemoval"]


class ChRemoval:
    """Removal for :class:`~mlwarden.store.ch_events.ClickHouseEvents` (which provides the
    reads, the write lock and the tables' columns)."""

    retention_days: float | None
    read: Callable[[str], list[dict[str, Any]]]
    _command: Callable[[str], Any]
    _have: Callable[[int], set[str]]
    _wlock: threading.Lock
    _columns: dict[int, set[str]]
    _versions: dict[int, tuple[float, set[str]]]

    def _count(self, sql: str) -> int:
        rows = self.read(sql)
        return int(next(iter(rows[0].values()))) if rows else 0

    def drop_model(self, model: ModelRecord) -> dict[str, int]:
        """Drop a model's tables; the rows they held."""
        uid = model.uid
        if not self._have(uid):
            return {"events": 0, "actuals": 0}
        out = {
            "events": self._count(f"SELECT count() FROM {q(f'events_{uid}_v')}"),
            "actuals": self._count(f"SELECT count() FROM {q(f'actuals_{uid}_v')}"),
        }
        with self._wlock:
            for name in (f"events_{uid}_v", f"actuals_{uid}_v"):
                self._command(f"DROP VIEW IF EXISTS {q(name)}")
            for name in (f"events_{uid}", f"actuals_{uid}"):
                self._command(f"DROP TABLE IF EXISTS {q(name)}")
            self._columns.pop(uid, None)
            self._versions.pop(uid, None)
        return out

    def delete_version(self, model: ModelRecord, version: str) -> dict[str, int]:
        """Delete a version's events and the labels no other version's event shares."""
        uid = model.uid
        if not self._have(uid):
            return {"events": 0, "actuals": 0}
        v = _string(version)
        ev, ac = q(f"events_{uid}"), q(f"actuals_{uid}")
        only_here = (
            f"event_id IN (SELECT event_id FROM {ev} WHERE version = {v}) AND event_id NOT IN "
            f"(SELECT event_id FROM {ev} WHERE version != {v})"
        )
        out = {
            "actuals": self._count(
                f"SELECT count() FROM {q(f'actuals_{uid}_v')} WHERE {only_here}"
            ),
            "events": self._count(
                f"SELECT count() FROM {q(f'events_{uid}_v')} WHERE version = {v}"
            ),
        }
        with self._wlock:
            self._mutate(f"DELETE FROM {ac} WHERE {only_here}")
            self._mutate(f"DELETE FROM {ev} WHERE version = {v}")
            self._versions.pop(uid, None)
        return out

    def _mutate(self, sql: str) -> None:
        """A lightweight delete, visible to the next read."""
        self._command(sql + " SETTINGS lightweight_deletes_sync = 2")

    def apply_retention(self, models: list[ModelRecord], *, now: datetime | None = None) -> int:
        """Delete the events (and labels) older than ``retention_days``; how many events (the
        tables' TTL does the same in the background)."""
        if self.retention_days is None:
            return 0
        cutoff = ts_literal(
            utc_naive(now or datetime.now(UTC)) - timedelta(days=self.retention_days)
        )
        deleted = 0
        for m in models:
            if not self._have(m.uid):
                continue
            ev = f"events_{m.uid}"
            n = self._count(f"SELECT count() FROM {q(ev + '_v')} WHERE ts < {cutoff}")
            if n:
                with self._wlock:
                    self._mutate(f"DELETE FROM {q(ev)} WHERE ts < {cutoff}")
                    self._mutate(f"DELETE FROM {q(f'actuals_{m.uid}')} WHERE ts < {cutoff}")
            deleted += n
        return deleted


def _string(s: str) -> str:
    """A ClickHouse string literal.

    >>> _string("it's")
    "'it\\\\'s'"
    """
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"
