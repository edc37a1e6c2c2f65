"""The security logs (API access, administrative changes): append-only JSON lines files.

They live beside the database, not in it, like the key file: DuckDB has one writer per file
and the writer's group commits belong to ingest; an access entry per request must not queue
behind (or slow) event batches. Each log is a directory of one file per UTC day
(``access/2026-06-01.jsonl``), appended in batches and fsynced, so retention deletes whole
files and a query reads the newest files first and stops at its limit. Without a data
directory (an in-memory store) the entries stay in a bounded ring in memory.

Examples
--------
>>> import tempfile
>>> from datetime import UTC, datetime
>>> log = JsonLinesLog(tempfile.mkdtemp(), "access")
>>> log.append([{"at": "2026-06-01T10:00:00+00:00", "status": 200},
...             {"at": "2026-06-01T10:00:01+00:00", "status": 401}])
>>> [e["status"] for e in log.query(lambda e: True, limit=10)]
[401, 200]
>>> log.prune(keep_days=1, now=datetime(2026, 6, 5, tzinfo=UTC))
1
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from mlwarden.errors import StorageError

__all__ = ["JsonLinesLog", "security_root"]

#: Entries kept in memory when there is no data directory.
MEMORY_ENTRIES = 100_000


def security_root(data_dir: str | os.PathLike[str] | None) -> Path | None:
    """Where a data directory's security logs live (None: in memory)."""
    return None if data_dir is None else Path(data_dir) / "security"


class JsonLinesLog:
    """One append-only log: ``<root>/<name>/<YYYY-MM-DD>.jsonl``, or memory when ``root`` is
    None. Entries are dicts with an ISO ``at`` timestamp (UTC); writes are serialised by a
    lock, so the log may be shared by threads."""

    def __init__(self, root: str | os.PathLike[str] | None, name: str) -> None:
        self.root = None if root is None else Path(root) / name
        self.name = name
        self._lock = threading.Lock()
        self._memory: deque[dict[str, Any]] = deque(maxlen=MEMORY_ENTRIES)

    def append(self, entries: Iterable[dict[str, Any]]) -> None:
        """Append entries durably (written and fsynced before this returns)."""
        by_day: dict[str, list[bytes]] = {}
        rows = list(entries)
        if not rows:
            return
        with self._lock:
            if self.root is None:
                self._memory.extend(rows)
                return
            for e in rows:
                by_day.setdefault(str(e["at"])[:10], []).append(orjson.dumps(e) + b"\n")
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                for day, lines in by_day.items():
                    fd = os.open(
                        self.root / f"{day}.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600
                    )
                    try:
                        os.write(fd, b"".join(lines))
                        os.fsync(fd)
                    finally:
                        os.close(fd)
            except OSError as exc:
                raise StorageError(f"Writing the {self.name} log failed: {exc}") from exc

    def _days(self) -> list[Path]:
        if self.root is None or not self.root.is_dir():
            return []
        return sorted(self.root.glob("????-??-??.jsonl"), reverse=True)

    def entries(self, *, since: datetime | None = None) -> Iterator[dict[str, Any]]:
        """Every entry, newest first (files of days before ``since`` are not read)."""
        if self.root is None:
            with self._lock:
                rows = list(self._memory)
            yield from reversed(rows)
            return
        first_day = None if since is None else since.astimezone(UTC).strftime("%Y-%m-%d")
        for path in self._days():
            if first_day is not None and path.stem < first_day:
                break
            try:
                lines = path.read_bytes().splitlines()
            except OSError as exc:
                raise StorageError(f"Reading the {self.name} log failed: {exc}") from exc
            for line in reversed(lines):
                if line:
                    try:
                        yield orjson.loads(line)
                    except orjson.JSONDecodeError:
                        continue  # a line cut short by a crash mid-write

    def query(
        self,
        keep: Callable[[dict[str, Any]], bool],
        *,
        limit: int,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Up to ``limit`` entries for which ``keep`` holds, newest first, in ``[since, until)``."""
        out: list[dict[str, Any]] = []
        for e in self.entries(since=since):
            at = _instant(e)
            if until is not None and at >= until:
                continue
            if since is not None and at < since:
                if self.root is not None:
                    break  # files are read newest first and appended in time order
                continue
            if keep(e):
                out.append(e)
                if len(out) >= limit:
                    break
        return out

    def prune(self, *, keep_days: float, now: datetime | None = None) -> int:
        """Delete the files of days wholly older than ``keep_days``; returns how many."""
        cutoff = (now or datetime.now(UTC)) - timedelta(days=keep_days)
        last_day = cutoff.strftime("%Y-%m-%d")
        n = 0
        with self._lock:
            for path in self._days():
                if path.stem < last_day:
                    path.unlink(missing_ok=True)
                    n += 1
        return n


def _instant(entry: dict[str, Any]) -> datetime:
    try:
        at = datetime.fromisoformat(str(entry.get("at")))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return at if at.tzinfo else at.replace(tzinfo=UTC)
