"""The server's background work on the store: the scheduler that evaluates monitors as windows
close, one job at a time, and stops promptly at shutdown.

Monitors that call out to the network (an LLM judge) are not judged here but by the judge job
(:mod:`mlwarden.monitors.judging`), on a thread of its own: no evaluation waits on a slow
endpoint.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from mlwarden.monitors.service import OnResults
    from mlwarden.store.base import Store

__all__ = ["StoreJobs", "retention_loop", "scheduler_loop"]

log = logging.getLogger("mlwarden.server")
T = TypeVar("T")


class StoreJobs:
    """Background work on the store (scheduler, retention, storing the judge's results): one
    job at a time, in a thread.

    A thread cannot be cancelled, so shutdown sets ``stopping``, which the scheduler reads
    between models, and waits for the running job before the store closes (a job that
    outlived the store failed on a closed connection)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.stopping = threading.Event()

    def call(self, fn: Callable[[], T]) -> T | None:
        """``fn()`` in this thread, after the running job; nothing once shutdown began."""
        with self._lock:
            return None if self.stopping.is_set() else fn()

    async def run(self, fn: Callable[[], T]) -> T | None:
        """``fn()`` in a worker thread, or nothing once shutdown began."""
        return await asyncio.to_thread(self.call, fn)

    def stop(self) -> None:
        """No new jobs; returns when the running one (if any) has finished."""
        self.stopping.set()
        with self._lock:
            pass


async def scheduler_loop(
    store: Store,
    jobs: StoreJobs,
    *,
    every: float,
    leading: Callable[[], bool],
    on_results: OnResults | None = None,
) -> None:
    """Evaluate monitors of every model as windows close and as late labels arrive, every
    ``every`` seconds (never when it is 0 or less), when ``leading()`` says this server leads
    (:class:`~mlwarden.monitors.leadership.Leadership`: several servers on one database, one
    evaluates; the others ask again each round and take over when the holder is gone)."""
    from mlwarden.monitors.service import run_due

    if every <= 0:
        return
    while True:
        await asyncio.sleep(every)
        try:
            if not await asyncio.to_thread(leading):
                continue
        except Exception:  # noqa: BLE001 - keep serving; the next round asks again
            log.exception("asking for the scheduler's lease failed")
            continue
        try:
            n = await jobs.run(
                lambda: run_due(store, on_results=on_results, stop=jobs.stopping.is_set)
            )
            if n:
                log.info("scheduler: wrote %d monitor results", n)
        except Exception:  # noqa: BLE001 - keep serving; the next round retries
            log.exception("monitor evaluation failed")


async def retention_loop(
    store: Store, jobs: StoreJobs, *, leading: Callable[[], bool], every: float = 3600.0
) -> None:
    """Delete raw events older than the store's retention now and every ``every`` seconds,
    when ``leading()`` says this server leads (once per deployment)."""
    while True:
        try:
            if await asyncio.to_thread(leading):
                n = await jobs.run(store.apply_retention)
                if n:
                    log.info("retention: deleted %d raw events", n)
        except Exception:  # noqa: BLE001 - keep serving; the next round retries
            log.exception("retention failed")
        await asyncio.sleep(every)
