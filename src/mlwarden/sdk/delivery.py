"""Deliver one batch: send, split on 413, register a missing model, spool on failure, count.

Every row that enters the pipeline ends in exactly one of the counters of
:class:`MonitorStats`: sent (the receiver stored it, or already had it),
rejected (the receiver quarantined it with a per-row reason), dropped (lost
on purpose, with a reason: queue full, spool full, refused by the receiver),
or it is still queued / spooled. Problems are logged once per reason, never
raised into the model server.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa

from mlwarden.schema.spec import ModelSpec
from mlwarden.sdk.spool import Spool
from mlwarden.sdk.transport import Outcome, Result, Transport

__all__ = ["Backoff", "Counters", "Deliverer", "MonitorStats"]

log = logging.getLogger("mlwarden.sdk")


@dataclass(frozen=True)
class MonitorStats:
    """Rows (events and actuals, companion models included) by where they are now."""

    #: Rows handed to ``log`` / ``log_batch`` / ``log_actual`` (and the middleware, sampler).
    logged: int
    #: Waiting in memory to be batched or sent.
    queued: int
    #: Taken by the receiver (stored, or already stored: re-sends are idempotent).
    sent: int
    #: Taken by the receiver but quarantined with a per-row reason (a bad value, ...).
    rejected: int
    #: On disk, waiting for the receiver to come back.
    spooled: int
    #: Lost on purpose, by reason (``queue full``, ``spool full``, ``HTTP 401 ...``).
    dropped: int
    drop_reasons: dict[str, int] = field(default_factory=dict)


class Counters:
    """Thread-safe tallies kept by the batching and sending threads (never the hot path)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()  # re-entrant: a SIGTERM handler may close the monitor
        self.sent = 0
        self.rejected = 0
        self.extra_logged = 0  # rows that did not come through the id counter
        self.discarded = 0  # events counted by the id counter but never queued (bad call, closed)
        self.discarded_actuals = 0
        self.drops: dict[str, int] = {}
        self._warned: set[str] = set()
        self._last_drop_warning = 0.0

    def add(self, *, sent: int = 0, rejected: int = 0, logged: int = 0) -> None:
        with self._lock:
            self.sent += sent
            self.rejected += rejected
            self.extra_logged += logged

    def discard(self, reason: str, *, actual: bool = False) -> None:
        """A ``log`` call that took a number but queued nothing: counted as dropped."""
        with self._lock:
            if actual:
                self.discarded_actuals += 1
            else:
                self.discarded += 1
        self.drop(1, reason)

    def queue_overflow(self, lost: int, total: int, max_queue: int) -> None:
        """Warn about events lost to a full queue (counted exactly by the pipeline, not here)."""
        with self._lock:
            now = time.monotonic()
            loud = "queue full" not in self._warned or now - self._last_drop_warning > 60.0
            self._warned.add("queue full")
            if loud:
                self._last_drop_warning = now
        if loud:
            log.warning(
                "mlwarden dropped %d events: log() outpaced delivery and the queue "
                "(max_queue=%d) was full; %d lost this way so far. Log large batches with "
                "log_batch(), or raise max_queue.",
                lost,
                max_queue,
                total,
            )

    def drop(self, rows: int, reason: str) -> None:
        """Count ``rows`` as lost and warn (once per reason, then at most once a minute)."""
        if rows <= 0:
            return
        with self._lock:
            self.drops[reason] = self.drops.get(reason, 0) + rows
            total = sum(self.drops.values())
            now = time.monotonic()
            loud = reason not in self._warned or now - self._last_drop_warning > 60.0
            self._warned.add(reason)
            if loud:
                self._last_drop_warning = now
        if loud:
            log.warning(
                "mlwarden dropped %d rows (%s); %d counted so far, by reason: %s",
                rows,
                reason,
                total,
                dict(self.drops),
            )

    def warn_once(self, key: str, message: str, *args: object) -> None:
        with self._lock:
            if key in self._warned:
                return
            self._warned.add(key)
        log.warning(message, *args)


class Backoff:
    """Exponential backoff with jitter: 0.5 s, 1 s, 2 s, ... up to ``maximum``, each delay drawn
    uniformly from its upper half so that many workers do not retry in step.

    Examples
    --------
    >>> b = Backoff(maximum=4.0)
    >>> b.ready(0.0)
    True
    >>> b.failed(0.0); 0.25 <= b.next_at <= 0.5 and not b.ready(0.1)
    True
    >>> b.succeeded(); b.ready(0.1)
    True
    """

    def __init__(self, *, base: float = 0.5, maximum: float = 30.0) -> None:
        self.base = base
        self.maximum = maximum
        self.failures = 0
        self.next_at = 0.0

    def ready(self, now: float) -> bool:
        return now >= self.next_at

    def failed(self, now: float, retry_after: float | None = None) -> None:
        delay = min(self.maximum, self.base * 2.0**self.failures)
        delay = random.uniform(delay / 2.0, delay)
        if retry_after is not None:
            delay = max(delay, min(retry_after, 10 * self.maximum))
        self.failures = min(self.failures + 1, 60)
        self.next_at = now + delay

    def succeeded(self) -> None:
        self.failures = 0
        self.next_at = 0.0


class Deliverer:
    """Sends batches through a transport; owns the spool, the backoff and the counters."""

    def __init__(
        self,
        transport: Transport,
        spool: Spool,
        counters: Counters,
        backoff: Backoff,
        spec_for: Callable[[str, pa.Table], ModelSpec | None],
    ) -> None:
        self.transport = transport
        self.spool = spool
        self.counters = counters
        self.backoff = backoff
        self.spec_for = spec_for
        self._registered: set[str] = set()

    # -- fresh batches -------------------------------------------------------------------------
    def deliver(self, kind: str, dest: str, table: pa.Table, *, force: bool = False) -> bool:
        """Send a fresh batch, or spool it while the receiver is backing off. True if sent."""
        if not force and not self.backoff.ready(time.monotonic()):
            self.to_spool(kind, dest, table)
            return False
        outcome = self._send(kind, dest, table)
        if outcome.result is Result.RETRY:
            self._failed(outcome)
            self.to_spool(kind, dest, table)
            return False
        return True

    def to_spool(self, kind: str, dest: str, table: pa.Table) -> None:
        try:
            evicted = self.spool.put(kind, dest, table)
        except OSError as exc:
            self.counters.drop(table.num_rows, f"spool unavailable: {type(exc).__name__}")
            return
        for e in evicted:
            self.counters.drop(e.rows, "spool full")

    # -- the spool -----------------------------------------------------------------------------
    def replay_one(self, *, force: bool = False) -> bool:
        """Send the oldest spooled batch. True if it left the spool (sent or dropped)."""
        if not force and not self.backoff.ready(time.monotonic()):
            return False
        entry = self.spool.oldest()
        if entry is None:
            return False
        try:
            table = self.spool.read(entry)
        except (OSError, pa.ArrowInvalid) as exc:
            self.spool.remove(entry)
            self.counters.drop(entry.rows, f"unreadable spool file: {type(exc).__name__}")
            return True
        outcome = self._send(entry.kind, entry.dest, table)
        if outcome.result is Result.RETRY:
            self.spool.release(entry)
            self._failed(outcome)
            return False
        self.spool.remove(entry)
        return True

    # -- one send, with its consequences -------------------------------------------------------
    def _send(self, kind: str, dest: str, table: pa.Table) -> Outcome:
        """Send; settle every outcome except RETRY (which the caller spools)."""
        outcome = self._call(kind, dest, table)
        if outcome.result is not Result.RETRY:
            self.backoff.succeeded()  # the receiver answered: it is reachable again
        if outcome.result is Result.MISSING_MODEL and dest not in self._registered:
            spec = self.spec_for(dest, table)
            if spec is not None:
                reg = self._register(spec)
                if reg.result is Result.RETRY:
                    return reg
                if reg.result is Result.OK:
                    self._registered.add(dest)
                    outcome = self._call(kind, dest, table)
                else:
                    self.counters.warn_once(
                        f"register:{dest}",
                        "mlwarden: registering model %r at %s failed: %s",
                        dest,
                        self.transport.describe(),
                        reg.reason,
                    )
        match outcome.result:
            case Result.OK:
                self.counters.add(sent=outcome.accepted, rejected=outcome.rejected)
                if outcome.rejected:
                    self.counters.warn_once(
                        f"rejected:{dest}",
                        "mlwarden: the receiver rejected %d of %d rows for model %r (see its "
                        "quarantine for the reasons); further rejections are counted silently.",
                        outcome.rejected,
                        table.num_rows,
                        dest,
                    )
            case Result.TOO_LARGE if table.num_rows > 1:
                half = table.num_rows // 2
                for part in (table.slice(0, half), table.slice(half)):
                    sub = self._send(kind, dest, part)
                    if sub.result is Result.RETRY:  # settle this half here: the whole is done
                        self._failed(sub)
                        self.to_spool(kind, dest, part)
                return Outcome(Result.OK)
            case Result.RETRY:
                return outcome
            case Result.MISSING_MODEL:
                self.counters.drop(
                    table.num_rows,
                    f"model {dest!r} is not registered at {self.transport.describe()}",
                )
                self.counters.warn_once(
                    f"missing:{dest}",
                    "mlwarden: model %r is not registered at %s; register it (mlwarden models "
                    "register ...) or pass create=True and task=... to mlwarden.init so the SDK "
                    "registers it.",
                    dest,
                    self.transport.describe(),
                )
            case _:
                self.counters.drop(table.num_rows, outcome.reason or outcome.result.value)
        return outcome

    def _call(self, kind: str, dest: str, table: pa.Table) -> Outcome:
        try:
            if kind == "events":
                return self.transport.send_events(dest, table)
            return self.transport.send_actuals(dest, table)
        except Exception as exc:  # noqa: BLE001 - a transport bug must not kill delivery
            self.counters.warn_once(
                f"crash:{type(exc).__name__}",
                "mlwarden: the transport failed with %r; the batch is kept and retried.",
                exc,
            )
            return Outcome(Result.RETRY, reason=f"{type(exc).__name__}: {exc}")

    def _register(self, spec: ModelSpec) -> Outcome:
        try:
            outcome = self.transport.register_model(spec)
        except Exception as exc:  # noqa: BLE001
            return Outcome(Result.RETRY, reason=f"{type(exc).__name__}: {exc}")
        if outcome.result is Result.OK:
            log.info("mlwarden: registered model %r (task %s)", spec.name, spec.task.value)
        return outcome

    def _failed(self, outcome: Outcome) -> None:
        self.backoff.failed(time.monotonic(), outcome.retry_after)
        self.counters.warn_once(
            f"retry:{outcome.reason.split(' from ')[0]}",
            "mlwarden: cannot deliver to %s (%s); batches go to the spool at %s and are "
            "re-sent with backoff.",
            self.transport.describe(),
            outcome.reason,
            self.spool.root,
        )
