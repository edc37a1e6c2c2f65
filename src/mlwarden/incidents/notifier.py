"""Deliver notifications to channels in the background, each key at most once per channel.

:meth:`Notifier.submit` only queues: the caller (the evaluation scheduler, an API request
acknowledging an incident) never waits for a network. Worker threads hand each notification to
every channel whose routing accepts it. Each channel is served by one worker, so a channel
gets its notifications in submission order (``opened`` before ``resolved``) and a slow channel
holds up only the channels sharing its worker.

Semantics, kept by the :class:`DeliveryLog`:

* **Nothing is sent twice after success.** Before sending, the worker asks the log whether
  the channel delivered the notification's key already; if so, nothing is sent and nothing is
  recorded (the log holds attempts, not re-submissions); :meth:`Notifier.deliver` returns a
  ``skipped`` :class:`Delivery` for it. If the log cannot answer, nothing is sent either
  (at most once wins over at least once) and a ``failed`` delivery says why.
* **Every attempt ends in a recorded Delivery**: ``delivered`` or ``failed`` with the reason.
  A channel that raises gives a ``failed`` delivery; the worker goes on. A failed key is not
  retried by the notifier (the channel retried already); submitting it again sends it again.
* A notification no channel accepts (routing) is not recorded.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from mlwarden.errors import ConfigError, expected
from mlwarden.incidents.channels.base import Channel, Delivery, DeliveryStatus, now_utc
from mlwarden.incidents.channels.policy import DEFAULT_POLICY, AlertingPolicy
from mlwarden.incidents.record import Notification

__all__ = ["DeliveryLog", "MemoryDeliveryLog", "Notifier"]

log = logging.getLogger("mlwarden.incidents")

_Item = tuple[Channel, Notification] | None


class DeliveryLog(Protocol):
    """Where deliveries are recorded (the server's store; :class:`MemoryDeliveryLog` in tests)."""

    def delivered(self, channel: str, key: str) -> bool:
        """Whether a delivery of ``key`` on ``channel`` has status ``delivered``."""
        ...

    def record(self, delivery: Delivery) -> None:
        """Store one delivery outcome."""
        ...


class MemoryDeliveryLog:
    """A thread-safe :class:`DeliveryLog` in memory (tests, the CLI dry run).

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> t = datetime(2024, 5, 1, tzinfo=UTC)
    >>> book = MemoryDeliveryLog()
    >>> book.record(Delivery("ops", "webhook", "p/m/1/0/opened", 1, "opened",
    ...                      DeliveryStatus.DELIVERED, 1, t, t))
    >>> book.delivered("ops", "p/m/1/0/opened"), book.delivered("team", "p/m/1/0/opened")
    (True, False)
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._deliveries: list[Delivery] = []
        self._done: set[tuple[str, str]] = set()

    def delivered(self, channel: str, key: str) -> bool:
        with self._lock:
            return (channel, key) in self._done

    def record(self, delivery: Delivery) -> None:
        with self._lock:
            self._deliveries.append(delivery)
            if delivery.status is DeliveryStatus.DELIVERED:
                self._done.add((delivery.channel, delivery.key))

    @property
    def deliveries(self) -> list[Delivery]:
        """Every recorded delivery, oldest first (a copy)."""
        with self._lock:
            return list(self._deliveries)


class Notifier:
    """Deliver notifications to ``channels`` on ``workers`` background threads.

    Channels are validated and their names must be unique (the log keys deliveries by channel
    name). ``policy`` bounds what channels expand and reach (default: ``MLWARDEN_*``
    variables, public hosts). Use it as a context manager, or call :meth:`close`.

    Examples
    --------
    >>> from mlwarden.incidents.record import IncidentEvent
    >>> from mlwarden.incidents.channels import WebhookChannel
    >>> book = MemoryDeliveryLog()
    >>> quiet = WebhookChannel("ops", url="http://127.0.0.1:9/x", events=["resolved"])
    >>> with Notifier([quiet], book) as notifier:
    ...     notifier.submit(Notification(1, "p", "churn", IncidentEvent.OPENED, "high", "t", "", ""))
    ...     notifier.flush(5)
    True
    >>> book.deliveries  # the channel wants only "resolved": nothing sent, nothing recorded
    []
    """

    def __init__(
        self,
        channels: Sequence[Channel],
        log: DeliveryLog,
        *,
        workers: int = 1,
        policy: AlertingPolicy = DEFAULT_POLICY,
    ) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ConfigError(
                expected("parameter of the notifier", "workers", "be an integer >= 1", workers)
            )
        names: set[str] = set()
        for channel in channels:
            channel.validate()
            if channel.name in names:
                raise ConfigError(
                    f"Two channels are named {channel.name!r}; channel names must be unique."
                )
            names.add(channel.name)
        self.channels = list(channels)
        self.log = log
        self.workers = workers
        self.policy = policy
        n = min(workers, len(self.channels))
        self._queues: list[queue.SimpleQueue[_Item]] = [queue.SimpleQueue() for _ in range(n)]
        self._cond = threading.Condition()
        self._pending = 0
        self._closed = False
        self._abandoned = False
        self._threads = [
            threading.Thread(
                target=self._work, args=(q,), name=f"mlwarden-notifier-{i}", daemon=True
            )
            for i, q in enumerate(self._queues)
        ]
        for t in self._threads:
            t.start()

    # -- public ----------------------------------------------------------------------------
    def submit(self, note: Notification) -> None:
        """Queue ``note`` for every channel; returns at once.

        After :meth:`close`, nothing is sent: a ``failed`` delivery is recorded for each
        channel that would have accepted the note.
        """
        with self._cond:
            closed = self._closed
            if not closed:
                for i, channel in enumerate(self.channels):
                    self._queues[i % len(self._queues)].put((channel, note))
                    self._pending += 1
        if closed:
            for channel in self.channels:
                self._not_sent(channel, note, "the notifier was closed")

    def deliver(self, note: Notification) -> list[Delivery]:
        """Deliver ``note`` now, in the calling thread; the outcome per accepting channel.

        Keys a channel delivered already come back ``skipped`` (and are not recorded).
        """
        out = []
        for channel in self.channels:
            delivery = self._deliver(channel, note)
            if delivery is not None:
                out.append(delivery)
        return out

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every submitted notification is handled; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout)

    def close(self, timeout: float | None = 30.0) -> bool:
        """Stop accepting, finish the queue (up to ``timeout`` seconds) and stop the workers.

        Returns False when the queue did not drain in time: what is left is recorded as
        ``failed`` (not sent) and the workers, daemon threads, are abandoned.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            if self._closed:
                return self._pending == 0
            self._closed = True
        for q in self._queues:
            q.put(None)
        for t in self._threads:
            t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        if not any(t.is_alive() for t in self._threads):
            return True
        self._abandoned = True
        for q in self._queues:
            while True:
                try:
                    item = q.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    self._not_sent(*item, "the notifier closed before it was sent")
                    self._done()
            q.put(None)  # the worker stops once its current send returns
        return False

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------------
    def _work(self, q: queue.SimpleQueue[_Item]) -> None:
        while True:
            item = q.get()
            if item is None:
                return
            channel, note = item
            try:
                if self._abandoned:
                    self._not_sent(channel, note, "the notifier closed before it was sent")
                else:
                    self._deliver(channel, note)
            except BaseException:  # pragma: no cover - _deliver catches; belt and braces
                log.exception("Notifier worker: delivery to %r failed unexpectedly", channel.name)
            finally:
                self._done()

    def _done(self) -> None:
        with self._cond:
            self._pending -= 1
            if self._pending == 0:
                self._cond.notify_all()

    def _deliver(self, channel: Channel, note: Notification) -> Delivery | None:
        started = now_utc()
        try:
            if not channel.accepts(note):
                return None
        except Exception as exc:  # a broken channel must not kill the worker
            why = f"routing failed: {type(exc).__name__}: {exc}"
            return self._failed(channel, note, started, why)
        try:
            done = self.log.delivered(channel.name, note.key)
        except Exception as exc:  # the log's engine error, whatever it is
            return self._failed(
                channel, note, started, f"not sent: the delivery log could not be read ({exc})"
            )
        if done:
            return channel.delivery(
                note,
                DeliveryStatus.SKIPPED,
                started_at=started,
                attempts=0,
                error="delivered already",
            )
        try:
            delivery = channel.send(note, policy=self.policy)
        except Exception as exc:  # a channel bug is a failed delivery
            log.exception("Channel %r raised while sending %s", channel.name, note.key)
            return self._failed(channel, note, started, f"{type(exc).__name__}: {exc}")
        self._record(delivery)
        return delivery

    def _failed(
        self, channel: Channel, note: Notification, started: datetime, error: str
    ) -> Delivery:
        delivery = channel.delivery(
            note, DeliveryStatus.FAILED, started_at=started, attempts=0, error=error
        )
        self._record(delivery)
        return delivery

    def _not_sent(self, channel: Channel, note: Notification, why: str) -> None:
        try:
            accepted = channel.accepts(note)
        except Exception:  # a broken filter: record the note as not sent
            accepted = True
        if accepted:
            self._failed(channel, note, now_utc(), f"not sent: {why}")

    def _record(self, delivery: Delivery) -> None:
        try:
            self.log.record(delivery)
        except Exception:  # never let the log kill a worker; say it loudly
            log.exception(
                "Could not record delivery %s on channel %r (status %s)",
                delivery.key,
                delivery.channel,
                delivery.status.value,
            )
