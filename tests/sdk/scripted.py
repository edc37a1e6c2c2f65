"""A transport whose answers a test scripts (the seam every fault goes through)."""

from __future__ import annotations

import threading

import pyarrow as pa

from mlwarden.schema import ModelSpec
from mlwarden.sdk import Outcome, Result, Transport


class Scripted(Transport):
    """``mode``: ok, retry (unreachable), fail (401), crash (raises); ``max_rows``: 413 above
    it; ``known``: models it has (others are 404) or None for all."""

    def __init__(self, mode: str = "ok") -> None:
        self.mode = mode
        self.max_rows: int | None = None
        self.known: set[str] | None = None
        self.events: list[tuple[str, pa.Table]] = []
        self.actuals: list[tuple[str, pa.Table]] = []
        self.registered: list[ModelSpec] = []
        self.calls = 0
        self._lock = threading.Lock()

    def _send(self, into: list[tuple[str, pa.Table]], model: str, table: pa.Table) -> Outcome:
        with self._lock:
            self.calls += 1
            if self.mode == "retry":
                return Outcome(Result.RETRY, reason="ConnectError from nowhere")
            if self.mode == "fail":
                return Outcome(Result.FAILED, reason="HTTP 401 AuthError: The API key is unknown.")
            if self.mode == "crash":
                raise RuntimeError("a bug in the transport")
            if self.max_rows is not None and table.num_rows > self.max_rows:
                return Outcome(Result.TOO_LARGE, reason="HTTP 413")
            if self.known is not None and model not in self.known:
                return Outcome(Result.MISSING_MODEL, reason="HTTP 404 NotFoundError")
            into.append((model, table))
            return Outcome(Result.OK, accepted=table.num_rows)

    def send_events(self, model: str, table: pa.Table) -> Outcome:
        return self._send(self.events, model, table)

    def send_actuals(self, model: str, table: pa.Table) -> Outcome:
        return self._send(self.actuals, model, table)

    def register_model(self, spec: ModelSpec) -> Outcome:
        with self._lock:
            self.registered.append(spec)
            if self.known is not None:
                self.known.add(spec.name)
        return Outcome(Result.OK)

    def rows(self, model: str) -> pa.Table:
        tables = [t for m, t in self.events if m == model]
        return pa.concat_tables(tables, promote_options="permissive")

    def ids(self, model: str) -> list[str]:
        return [i for m, t in self.events if m == model for i in t.column("event_id").to_pylist()]
