"""The two background threads of a monitor: batching and sending.

``log()`` appends to a deque; the *batcher* wakes when a batch is full or the
flush interval passes, turns what is queued into Arrow tables (one per model
and up to ``batch_size`` rows) and hands them to a short *outbox*. The
*sender* takes tables from the outbox and delivers them; while the receiver is
failing it spools them instead and replays the spool with backoff. Two threads
so that a slow receiver never stops batching: when the outbox is full the
batcher spools directly, and memory stays bounded.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from mlwarden.sdk.columns import DEST, JOB, actual_tables, event_tables, version_of
from mlwarden.sdk.delivery import Backoff, Counters, Deliverer, log

if TYPE_CHECKING:
    from mlwarden.sdk.monitor import Monitor

__all__ = ["Pipeline"]

MAX_OUTBOX = 8
TABLE_CHUNK = 20_000
ADOPT_EVERY = 30.0

Batch = tuple[str, str, pa.Table]  # (kind, model, table)


class Pipeline:
    """Batching and sending for one monitor in one process (a forked child builds its own)."""

    def __init__(self, monitor: Monitor) -> None:
        self.m = monitor
        self.counters = Counters()
        self.deliverer = Deliverer(
            monitor.transport,
            monitor.spool_,
            self.counters,
            Backoff(maximum=monitor.max_backoff),
            monitor._spec_for,
        )
        self.outbox: deque[Batch] = deque()
        self.in_flight: Batch | None = None
        self.cv = threading.Condition()
        self.taken_events = 0
        self.taken_actuals = 0
        self.reported_overflow = 0
        self.flush_requested = 0  # flush generations: requested, batched, done
        self.flush_batched = 0
        self.flush_done = 0
        self.stopping = False
        # held while a thread works (imports, conversion, I/O) and released while it waits, so
        # that a fork can wait for a safe moment: a child forked while a thread of the parent
        # was importing a module would deadlock on that module's import lock.
        self.busy = (threading.Lock(), threading.Lock())
        self._paused: list[threading.Lock] = []
        self.warm = threading.Event()  # conversion works without imports from now on
        self.threads = [
            threading.Thread(
                target=self._guard,
                args=(loop,),
                daemon=True,
                name=f"mlwarden-{name}-{monitor.model}",
            )
            for name, loop in (("batch", self._batch_loop), ("send", self._send_loop))
        ]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def _guard(self, loop: Any) -> None:
        while True:
            try:
                loop()
                return
            except Exception:  # noqa: BLE001 - keep delivering; the model server must not notice
                log.exception("mlwarden: the delivery thread failed; restarting it")
                time.sleep(1.0)

    # -- batching ------------------------------------------------------------------------------
    def _batch_loop(self) -> None:
        m = self.m
        with self.busy[0]:
            _warm_up()
        self.warm.set()
        while True:
            m._wake.wait(m.flush_interval)
            m._wake.clear()
            m._woken = False
            with self.cv:
                gen, stopping = self.flush_requested, self.stopping
            with self.busy[0]:
                self.drain()
            with self.cv:
                self.flush_batched = max(self.flush_batched, gen)
                self.cv.notify_all()
            if stopping:
                return

    def drain(self, *, direct: bool = False) -> None:
        """Batch everything queued now; ``direct``: spool it on this thread (shutdown).

        Whole tables first, then events, then actuals: a model is registered from its first
        batch of events, and labels had better not overtake their predictions."""
        m = self.m
        for kind, dest, table in _take(m._tables):
            with m._table_lock:
                m._table_rows_out += table.num_rows
            for k in range(0, table.num_rows, TABLE_CHUNK):
                self._hand_over((kind, dest, table.slice(k, TABLE_CHUNK)), direct)
        full = len(m._events) >= m.max_queue
        items = _take(m._events)
        self.taken_events += len(items)
        if full:
            self._report_overflow()
        groups: dict[tuple[str, str | None], list[Any]] = {}
        extra = 0
        for item in items:
            groups.setdefault((item[DEST] or m.model, version_of(item, m.version)), []).append(item)
            if item[JOB] is not None:
                try:
                    found = item[JOB]()
                except Exception as exc:  # noqa: BLE001 - a user's extractor must not stop us
                    self.counters.warn_once(
                        f"extract:{type(exc).__name__}",
                        "mlwarden: extracting features from a request failed with %r",
                        exc,
                    )
                    continue
                groups.setdefault((m.model, m.version), []).extend(found)
                extra += len(found)
        self.counters.add(logged=extra)
        for (dest, version), group in groups.items():
            for k in range(0, len(group), m.batch_size):
                chunk = group[k : k + m.batch_size]
                try:
                    tables = event_tables(chunk, version=version)
                except Exception as exc:  # noqa: BLE001
                    self.counters.drop(len(chunk), f"cannot convert to Arrow: {exc}")
                    continue
                for table, segments in tables:
                    if dest == m.model:
                        m._segments.update(segments)
                    self._hand_over(("events", dest, table), direct)
        acts = _take(m._actuals)
        self.taken_actuals += len(acts)
        agroups: dict[str, list[Any]] = {}
        for a in acts:
            agroups.setdefault(a[0] or m.model, []).append(a)
        for dest, group in agroups.items():
            for k in range(0, len(group), m.batch_size):
                chunk = group[k : k + m.batch_size]
                try:
                    tables = actual_tables(chunk)
                except Exception as exc:  # noqa: BLE001
                    self.counters.drop(len(chunk), f"cannot convert to Arrow: {exc}")
                    continue
                for table in tables:
                    self._hand_over(("actuals", dest, table), direct)

    def _hand_over(self, batch: Batch, direct: bool) -> None:
        with self.cv:
            if not direct and len(self.outbox) < MAX_OUTBOX:
                self.outbox.append(batch)
                self.cv.notify_all()
                return
        self.deliverer.to_spool(*batch)  # the sender is busy (a slow receiver) or gone

    def overflow(self) -> int:
        """Events lost because the queue was full (exact when no thread is inside ``log``)."""
        m, c = self.m, self.counters
        events = m._ids.issued() - self.taken_events - len(m._events) - c.discarded
        actuals = (
            m._actual_ids.issued() - self.taken_actuals - len(m._actuals) - c.discarded_actuals
        )
        return max(0, events) + max(0, actuals)

    def _report_overflow(self) -> None:
        lost = self.overflow()
        if lost > self.reported_overflow:
            self.counters.queue_overflow(lost - self.reported_overflow, lost, self.m.max_queue)
            self.reported_overflow = lost

    # -- sending -------------------------------------------------------------------------------
    def _send_loop(self) -> None:
        d = self.deliverer
        spool = d.spool
        next_adopt = 0.0
        flush_failed = False
        while True:
            with self.cv:
                while not self._has_work(spool):
                    self.cv.wait(self._idle_wait(spool))
                batch = self.outbox.popleft() if self.outbox else None
                self.in_flight = batch
                flushing = self.flush_done < self.flush_batched
                target = self.flush_batched
            force = flushing and not flush_failed
            with self.busy[1]:
                if batch is not None:
                    if not d.deliver(*batch, force=force) and force:
                        flush_failed = True
                elif len(spool) and (force or d.backoff.ready(time.monotonic())):
                    if not d.replay_one(force=force) and force:
                        flush_failed = True
                now = time.monotonic()
                if now >= next_adopt and d.backoff.ready(now) and not self.stopping:
                    next_adopt = now + ADOPT_EVERY
                    with contextlib.suppress(OSError):
                        if spool.adopt():
                            log.info("mlwarden: adopted spooled batches of an ended process")
            with self.cv:
                self.in_flight = None
                if flushing and not self.outbox and (not len(spool) or flush_failed):
                    self.flush_done = target
                    flush_failed = False
                self.cv.notify_all()
                if self._finished():
                    return

    def _finished(self) -> bool:
        """Stopping, the batcher's last batches handed over, and all of them delivered."""
        return (
            self.stopping
            and not self.outbox
            and self.flush_batched >= self.flush_requested
            and self.flush_done >= self.flush_batched
        )

    def _has_work(self, spool: Any) -> bool:
        if self.outbox or self.flush_done < self.flush_batched or self._finished():
            return True
        return bool(len(spool)) and self.deliverer.backoff.ready(time.monotonic())

    def _idle_wait(self, spool: Any) -> float:
        if len(spool):
            return max(0.01, min(1.0, self.deliverer.backoff.next_at - time.monotonic()))
        return 1.0

    # -- fork --------------------------------------------------------------------------------
    def pause(self, timeout: float) -> None:
        """Before a fork: wait (at most ``timeout`` per thread) until both threads are idle."""
        for lock in self.busy:
            if lock.acquire(timeout=timeout):
                self._paused.append(lock)

    def resume(self) -> None:
        """After a fork, in the parent."""
        while self._paused:
            self._paused.pop().release()

    # -- flush and stop (caller's thread) ------------------------------------------------------
    def flush(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.cv:
            self.flush_requested += 1
            gen = self.flush_requested
        self.m._wake.set()
        with self.cv:
            while self.flush_done < gen:
                left = deadline - time.monotonic()
                if left <= 0 or not self.threads[1].is_alive():
                    return False
                self.cv.wait(left)
        return True

    def stop(self, timeout: float) -> None:
        """Flush, stop the threads, and spool whatever could not be sent in time."""
        deadline = time.monotonic() + timeout
        self.flush(max(0.0, timeout * 0.8))
        with self.cv:
            self.stopping = True
            self.flush_requested += 1
            self.cv.notify_all()
        self.m._wake.set()
        for t in self.threads:
            t.join(max(0.0, deadline - time.monotonic()))
        if any(t.is_alive() for t in self.threads):  # stuck on a slow receiver: keep it on disk
            with self.cv:
                pending = list(self.outbox) + ([self.in_flight] if self.in_flight else [])
                self.outbox.clear()
            for batch in pending:  # the in-flight batch may arrive twice: ids make that a no-op
                self.deliverer.to_spool(*batch)
            if self.warm.is_set():  # else converting could wait on an import forever
                self.drain(direct=True)

    def pending_rows(self) -> int:
        with self.cv:
            rows = sum(int(t.num_rows) for _, _, t in self.outbox)
            if self.in_flight is not None:
                rows += int(self.in_flight[2].num_rows)
        return rows


def _warm_up() -> None:
    """Convert one dummy event now: pyarrow imports pandas (when installed) on first use, and
    imports fail while the interpreter shuts down, when the last batch may be converted."""
    item = (None, "e", 0.0, {"x": 1.0}, 1, 0.5, {"a": 0.5}, {"s": "a"}, 1.0, "ok", None, None, None)
    with contextlib.suppress(Exception):
        event_tables([item], version="v")
        actual_tables([(None, "e", 1, 0.0)])


def _take(q: deque[Any]) -> list[Any]:
    out = []
    for _ in range(len(q)):
        try:
            out.append(q.popleft())
        except IndexError:  # pragma: no cover - only this thread pops
            break
    return out
