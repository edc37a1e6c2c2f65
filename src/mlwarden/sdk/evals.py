"""Evaluations from Python: datasets, experiment runs and their comparison on a server.

Unlike the tracing calls, these are explicit requests a program waits for, so they raise:
:class:`~mlwarden.errors.ValidationError` (a 422, naming the field), ``NotFoundError``,
``ConflictError``, ``AuthError``, ``TransportError`` (server unreachable) -- never an httpx
or JSON error.

Examples
--------
A run needs a server; the calls look like this::

    from mlwarden.sdk.evals import EvalClient

    with EvalClient("http://127.0.0.1:8000") as ev:
        ev.create_dataset("faq", exist_ok=True)
        ev.add_items("faq", items=[{"input": "2+2?", "expected_output": "4"}])
        base = ev.run("faq", task={"kind": "endpoint", "endpoint": URL, "model": "m",
                                   "prompt": "Answer: {input}"},
                      evaluators=[{"kind": "exact_match"}])
        ...
        print(ev.compare(base["id"], new["id"])["evaluators"])
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from mlwarden.api_client import ApiClient
from mlwarden.errors import ConflictError, TransportError

__all__ = ["FINISHED", "EvalClient"]

#: Statuses of a run that has stopped.
FINISHED = ("done", "partial", "failed", "cancelled")


def _q(name: str) -> str:
    return quote(name, safe="")


class EvalClient(ApiClient):
    """A client of the evaluation API (``url``: default ``$MLWARDEN_URL`` or
    ``http://127.0.0.1:8000``; ``api_key``: default ``$MLWARDEN_API_KEY``)."""

    # -- datasets ---------------------------------------------------------------------------
    def create_dataset(
        self, name: str, *, description: str | None = None, exist_ok: bool = False
    ) -> dict[str, Any]:
        """Create a dataset (``exist_ok``: return the existing one instead of a conflict)."""
        try:
            out: dict[str, Any] = self.request(
                "POST", "/v1/llm/datasets", json={"name": name, "description": description}
            )
        except ConflictError:
            if not exist_ok:
                raise
            out = self.dataset(name)
        return out

    def dataset(
        self, name: str, *, version: int | None = None, limit: int = 1000
    ) -> dict[str, Any]:
        """A dataset and (up to ``limit``) items of a version (default: the latest)."""
        params: dict[str, Any] = {"limit": limit}
        if version is not None:
            params["version"] = version
        out: dict[str, Any] = self.request("GET", f"/v1/llm/datasets/{_q(name)}", params=params)
        return out

    def add_items(
        self,
        dataset: str,
        *,
        items: list[dict[str, Any]] | None = None,
        span_ids: list[str] | None = None,
        trace_ids: list[str] | None = None,
        filter: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Add items (given, or stored LLM spans by ids or a filter) as a new version."""
        body = {k: v for k, v in (("items", items), ("span_ids", span_ids),
                                  ("trace_ids", trace_ids), ("filter", filter)) if v is not None}  # fmt: skip
        out: dict[str, Any] = self.request(
            "POST", f"/v1/llm/datasets/{_q(dataset)}/items", json=body
        )
        return out

    def upload(self, dataset: str, data: bytes, *, format: str = "jsonl") -> dict[str, Any]:
        """Add items from JSON Lines or CSV bytes as a new version."""
        ctype = "text/csv" if format == "csv" else "application/x-ndjson"
        out: dict[str, Any] = self.request(
            "POST", f"/v1/llm/datasets/{_q(dataset)}/upload", content=data,
            params={"format": format}, headers={"content-type": ctype},
        )  # fmt: skip
        return out

    # -- experiments ------------------------------------------------------------------------
    def start(
        self, dataset: str, *, evaluators: list[dict[str, Any]], **options: Any
    ) -> dict[str, Any]:
        """Start a run (``task``, ``name``, ``version``, ``concurrency``, ``budget_s`` as in
        ``POST /v1/llm/experiments``); returns the queued run."""
        body = {"dataset": dataset, "evaluators": evaluators, **options}
        out: dict[str, Any] = self.request("POST", "/v1/llm/experiments", json=body)
        return out

    def get_run(self, run_id: str) -> dict[str, Any]:
        out: dict[str, Any] = self.request("GET", f"/v1/llm/experiments/{_q(run_id)}")
        return out

    def wait(
        self,
        run_id: str,
        *,
        timeout: float = 3600.0,
        poll_s: float = 0.5,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """The run once it has stopped; ``on_progress`` sees it at each poll. Raises
        :class:`TransportError` when ``timeout`` seconds pass first."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.get_run(run_id)
            if on_progress is not None:
                on_progress(run)
            if run["status"] in FINISHED:
                return run
            if time.monotonic() >= deadline:
                raise TransportError(
                    f"Run {run_id!r} is still {run['status']} after {timeout:g} s."
                )
            time.sleep(poll_s)

    def run(
        self,
        dataset: str,
        *,
        evaluators: list[dict[str, Any]],
        timeout: float = 3600.0,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """Start a run and wait for it (see :meth:`start` and :meth:`wait`)."""
        run = self.start(dataset, evaluators=evaluators, **options)
        return self.wait(run["id"], timeout=timeout, on_progress=on_progress)

    def compare(self, baseline: str, other: str) -> dict[str, Any]:
        """Run ``other`` against run ``baseline``: per evaluator means, intervals, paired test
        and p-value; per item both outputs and grades."""
        out: dict[str, Any] = self.request(
            "GET", f"/v1/llm/experiments/{_q(baseline)}/compare/{_q(other)}"
        )
        return out
