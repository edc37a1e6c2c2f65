"""The judge job: monitors that call out to the network (an LLM judge) make their calls here,
on a thread of their own, never under the scheduler's lock.

The scheduler evaluates such a monitor on what earlier calls stored (an LLM judge: the grades
on its judge spans), counting the rest as waiting. Every period this job evaluates again, with
calls, the recent windows the scheduler has closed (:data:`LOOKBACK_WINDOWS`), each within
the monitor's own budget and timeout; a window whose evaluation made calls gets its result
stored again (through the store's one-job-at-a-time lock, briefly) and handed to the incident
hook. Stopping is prompt: the job stops between rounds of calls and leaves the calls in
flight behind (their answers are not stored; the next start asks again).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Self

from mlwarden.errors import MlwardenError
from mlwarden.monitors.evaluate import evaluate
from mlwarden.monitors.scheduler import StoreJobs
from mlwarden.monitors.service import load_suite, results_table
from mlwarden.monitors.suite import parse_cadence
from mlwarden.store.times import utc_aware

if TYPE_CHECKING:
    from mlwarden.monitors.service import OnResults
    from mlwarden.store.base import Store

__all__ = ["LOOKBACK_WINDOWS", "JudgeJob"]

log = logging.getLogger("mlwarden.server")
#: The closed windows (of the model's cadence) up to its last evaluated one that the job
#: looks at each period: answers of older windows left unjudged stay unjudged.
LOOKBACK_WINDOWS = 7


class JudgeJob:
    """Every ``every`` seconds, the calls of every model's calling-out monitors, on a daemon
    thread. ``stop`` returns within a round's wait (~0.1 s) plus a result being stored."""

    def __init__(
        self,
        store: Store,
        *,
        jobs: StoreJobs,
        every: float,
        on_results: OnResults | None = None,
        leading: Callable[[], bool] | None = None,
    ) -> None:
        self.store = store
        self.jobs = jobs
        self.every = every
        self.on_results = on_results
        #: asked before each round: several servers on one database, only the leader judges
        self.leading = leading
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        if self.every > 0:
            self._thread = threading.Thread(target=self._loop, name="mlwarden-judge", daemon=True)
            self._thread.start()
        return self

    def stop(self, *, grace: float = 5.0) -> None:
        """No new calls; waits at most ``grace`` seconds for the job to notice."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(grace)

    def _loop(self) -> None:
        while not self._stopping.wait(self.every):
            try:
                if self.leading is not None and not self.leading():
                    continue
                n = self.run_once()
                if n:
                    log.info("judge job: stored %d results", n)
            except Exception:  # noqa: BLE001 - keep serving; the next round retries
                log.exception("the judge job failed")

    def _stopped(self) -> bool:
        return self._stopping.is_set() or self.jobs.stopping.is_set()

    def run_once(self) -> int:
        """One pass over every model (the windows the scheduler closed); the results stored."""
        total = 0
        for project, model in self.store.list_suites():
            if self._stopped():
                break
            try:
                total += self._model(project, model)
            except MlwardenError:
                log.exception("judging the answers of %s/%s failed", project, model)
        return total

    def _model(self, project: str, model: str) -> int:
        row = self.store.get_suite(project, model)
        suite = load_suite(self.store, project, model, row=row)
        mons = [m for m in suite.monitors if type(m).calls_out]
        until = utc_aware(row.evaluated_until)
        if not mons or until is None:
            return 0
        record = self.store.get_model(project, model)
        start = until - LOOKBACK_WINDOWS * parse_cadence(suite.cadence)
        results = evaluate(
            self.store,
            record,
            suite,
            start,
            until,
            segments=False,
            monitors=mons,
            call_out=True,
            stop=self._stopped,
        )
        called = [r for r in results if r.details.get("judge_calls")]
        if not called or self._stopped():
            return 0

        def store_them() -> int:
            n: int = self.store.write_results(project, model, results_table(called))
            if self.on_results is not None:
                self.on_results(project, model, called, parse_cadence(suite.cadence))
            return n

        return self.jobs.call(store_them) or 0
