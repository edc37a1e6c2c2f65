"""Experiment runs as background jobs: one worker thread, off the event loop and off the
monitor scheduler's lock (a run holds no store lock between its writes).

The server owns one :class:`EvalJobs` (built at start-up, stopped at shutdown); a submitted
run waits ``queued`` until the worker takes it. Shutdown asks the running run to stop after
its current round (it ends ``cancelled``) and marks the queued ones ``cancelled`` too.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

from mlwarden.evals.runner import ExperimentRun

__all__ = ["EvalJobs"]


class EvalJobs:
    """The worker that executes experiment runs, one at a time, in submission order."""

    def __init__(self, *, workers: int = 1) -> None:
        self.workers = workers
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="mlwarden-evals")
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pending: dict[str, Future[None]] = {}

    def submit(self, run: ExperimentRun) -> None:
        run.stop = self._stop
        with self._lock:
            fut = self._pool.submit(run)
            self._pending[run.run_id] = fut
        fut.add_done_callback(self._forget)

    def _forget(self, fut: Future[None]) -> None:
        with self._lock:
            for rid in [r for r, f in self._pending.items() if f is fut]:
                del self._pending[rid]

    def busy(self) -> int:
        """Runs queued or running."""
        with self._lock:
            return len(self._pending)

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the worker: the running run ends after its round, queued ones are dropped
        (and recorded as cancelled by the caller's store)."""
        self._stop.set()
        self._pool.shutdown(wait=True, cancel_futures=False)
