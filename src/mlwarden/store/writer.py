"""Group commit: one writer thread, many waiting requests, one transaction per group.

Measured on 2 cores (DESIGN.md): a DuckDB commit per 100-row batch gives
~50k rows/s, one commit per ~50k rows ~450k rows/s. So requests are queued,
the writer takes the first waiting request plus everything that follows it
closely (gaps under ``idle`` seconds) for at most ``interval`` seconds or
``max_rows`` rows, commits it in one transaction and only then resolves each
request's future: an acknowledged request is durable. Requests arriving while
a commit runs form the next group, so concurrent clients share commits while a
lone sequential client is not made to wait the whole interval.

If a group's transaction fails, each request of the group is retried alone so
one poisoned request never fails its neighbours.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from mlwarden.errors import MlwardenError, StorageError

__all__ = ["GroupCommitWriter", "WriteRequest"]

log = logging.getLogger(__name__)


@dataclass
class WriteRequest:
    """One unit of work for the writer; ``payload`` is engine-specific."""

    kind: str
    key: Any
    payload: Any
    rows: int
    future: Future[Any] = field(default_factory=Future)


_STOP = object()


class GroupCommitWriter:
    """Runs ``commit(requests) -> results`` on one thread, batching requests.

    ``commit`` receives a group of requests and must apply them in one
    transaction, returning one result per request (in order) or raising.
    """

    def __init__(
        self,
        commit: Callable[[Sequence[WriteRequest]], Sequence[Any]],
        *,
        interval: float = 0.05,
        idle: float = 0.002,
        max_rows: int = 100_000,
        name: str = "mlwarden-writer",
    ) -> None:
        self.commit = commit
        self.interval = interval
        self.idle = idle
        self.max_rows = max_rows
        self._q: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._closed = False
        self.commits_ = 0
        self.rows_ = 0
        self._thread.start()

    def submit(self, kind: str, key: Any, payload: Any, rows: int) -> Future[Any]:
        if self._closed:
            raise StorageError("The store is closed; no more writes are accepted.")
        req = WriteRequest(kind, key, payload, rows)
        self._q.put(req)
        return req.future

    def write(
        self, kind: str, key: Any, payload: Any, rows: int, timeout: float | None = 60.0
    ) -> Any:
        """Submit and wait for the commit (synchronous callers)."""
        return self.submit(kind, key, payload, rows).result(timeout=timeout)

    def close(self, timeout: float = 30.0) -> None:
        if self._closed:
            return
        self._closed = True
        self._q.put(_STOP)
        self._thread.join(timeout)

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._q.get()
            if first is _STOP:
                break
            group: list[WriteRequest] = [first]
            rows = first.rows
            deadline = time.monotonic() + self.interval
            while rows < self.max_rows:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    item = self._q.get(timeout=min(remaining, self.idle))
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                group.append(item)
                rows += item.rows
            self._apply(group)
        # drain whatever arrived before the stop
        rest: list[WriteRequest] = []
        while True:
            try:
                item = self._q.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:
                rest.append(item)
        if rest:
            self._apply(rest)

    def _apply(self, group: list[WriteRequest]) -> None:
        try:
            results = self.commit(group)
        except Exception:  # noqa: BLE001 - retried one by one below
            if len(group) == 1:
                self._fail(group[0])
                return
            log.warning("group commit of %d requests failed; retrying them one by one", len(group))
            for req in group:
                try:
                    (result,) = self.commit([req])
                except Exception:  # noqa: BLE001
                    self._fail(req)
                else:
                    self._done(req, result)
            return
        for req, result in zip(group, results, strict=True):
            self._done(req, result)

    def _done(self, req: WriteRequest, result: Any) -> None:
        self.commits_ += 1
        self.rows_ += req.rows
        req.future.set_result(result)

    def _fail(self, req: WriteRequest) -> None:
        import sys

        exc = sys.exc_info()[1]
        err = exc if isinstance(exc, MlwardenError) else StorageError(f"The write failed: {exc}")
        if err is not exc:
            err.__cause__ = exc
        req.future.set_exception(err)
