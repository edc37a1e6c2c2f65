"""An experiment run: each item's output from the task, then every evaluator's grade.

Items go in rounds of ``concurrency``: the task's calls of a round run side by side, then
the offline evaluators grade the round (embeddings in one batch), then the judges (side by
side too); each round's outputs and grades are stored before the next starts, and the run's
``done`` count, tokens and cost move with it, so a client polling the run sees progress.

Like the ``llm_judge`` monitor, a slow or dead endpoint cannot hold a run forever: no new
round starts once ``budget_s`` has passed, and a round in which no call reached an endpoint
stops the run. Such a run ends ``partial`` with the reason; its finished items count. A run
stopped by server shutdown ends ``cancelled``; an unexpected error ends it ``failed`` with
the error (never an exception out of the worker).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mlwarden.errors import MlwardenError
from mlwarden.evals.endpoint import chat
from mlwarden.evals.evaluators import Evaluator, Grade
from mlwarden.evals.items import decode_item
from mlwarden.evals.tasks import Task, render
from mlwarden.store.eval_storage import EvalStorage

__all__ = ["STATUSES", "ExperimentRun", "RunLimits"]

log = logging.getLogger("mlwarden.evals")
#: A run's life: queued -> running -> done | partial | failed | cancelled.
STATUSES = ("queued", "running", "done", "partial", "failed", "cancelled")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class RunLimits:
    """Calls at a time and the wall-clock budget of a run (seconds)."""

    concurrency: int = 4
    budget_s: float = 600.0


@dataclass
class ExperimentRun:
    """One run, executed by calling it (in a worker thread, see :mod:`mlwarden.evals.jobs`)."""

    store: EvalStorage
    project: str
    run_id: str
    items: Sequence[dict[str, Any]]
    task: Task
    evaluators: Sequence[Evaluator]
    limits: RunLimits = RunLimits()
    stop: threading.Event = field(default_factory=threading.Event)

    def __call__(self) -> None:
        try:
            status, error = self._run()
        except Exception as exc:  # the worker's boundary: any error ends the run "failed"
            log.exception("experiment run %s failed", self.run_id)
            status, error = "failed", f"{type(exc).__name__}: {exc}"
        try:
            self.store.update_run(self.project, self.run_id, status=status, error=error,
                                  finished_at=_now())  # fmt: skip
        except MlwardenError:
            log.exception("cannot record the end of experiment run %s", self.run_id)

    def _run(self) -> tuple[str, str | None]:
        import httpx

        self.store.update_run(self.project, self.run_id, status="running", started_at=_now())
        deadline = time.monotonic() + self.limits.budget_s
        done = tokens = 0
        cost = 0.0
        width = self.limits.concurrency
        with (
            httpx.Client() as http,
            ThreadPoolExecutor(width, thread_name_prefix="mlwarden-eval") as pool,
        ):
            for at in range(0, len(self.items), width):
                if self.stop.is_set():
                    return (
                        "cancelled",
                        f"the server stopped after {done} of {len(self.items)} items",
                    )
                if time.monotonic() >= deadline:
                    return "partial", (f"the run's budget of {self.limits.budget_s:g} s ran out "
                                       f"after {done} of {len(self.items)} items")  # fmt: skip
                chunk = [decode_item(r) for r in self.items[at : at + width]]
                outputs, grades, reached = self._round(http, pool, chunk)
                self.store.put_run_rows(self.project, self.run_id, outputs, grades)
                done += len(chunk)
                for r in (*outputs, *grades):
                    tokens += int(r.get("tokens") or 0)
                    cost += float(r.get("cost") or 0.0)
                self.store.update_run(
                    self.project, self.run_id, done=done, tokens=tokens, cost=cost
                )
                if not reached:
                    return "partial", (f"no call of a round reached the endpoint; stopped after "
                                       f"{done} of {len(self.items)} items")  # fmt: skip
        return "done", None

    def _round(
        self, http: Any, pool: ThreadPoolExecutor, chunk: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], bool]:
        calls = reached = 0
        outputs: list[dict[str, Any]] = []
        if self.task.kind == "stored" or self.task.endpoint is None:
            outputs = [{"item_id": i["id"], "output": i.get("output"),
                        "error": None if i.get("output") is not None else "the item holds no output"}
                       for i in chunk]  # fmt: skip
        else:
            ep, task = self.task.endpoint, self.task

            def call(item: dict[str, Any]) -> dict[str, Any]:
                msgs = [{"role": "system", "content": task.system}] if task.system else []
                msgs.append({"role": "user", "content": render(str(task.prompt), item)})
                r = chat(http, ep, msgs)
                return {"item_id": item["id"], "output": r.content, "tokens": r.tokens,
                        "cost": r.cost, "latency_ms": r.latency_ms, "error": r.error,
                        "_reached": r.reached}  # fmt: skip

            outputs = list(pool.map(call, chunk))
            calls += len(outputs)
            reached += sum(bool(o.pop("_reached")) for o in outputs)
        texts = [o["output"] for o in outputs]
        grades: list[dict[str, Any]] = []
        for ev in self.evaluators:
            if ev.remote:
                done = list(pool.map(lambda p, ev=ev: ev.grade_remote(http, *p),
                                     zip(chunk, texts, strict=True)))  # fmt: skip
                got = [g for g, _, _ in done]
                calls += sum(c for _, c, _ in done)
                reached += sum(r for _, _, r in done)
            else:
                got = ev.grade_all(chunk, texts)
            grades += [_grade_row(i["id"], ev.label, g) for i, g in zip(chunk, got, strict=True)]
        return outputs, grades, reached > 0 or calls == 0


def _grade_row(item_id: str, name: str, g: Grade) -> dict[str, Any]:
    return {"item_id": item_id, "evaluator": name, "value": g.value, "passed": g.passed,
            "detail": g.detail[:500] or None, "template": g.template, "tokens": g.tokens,
            "cost": g.cost}  # fmt: skip
