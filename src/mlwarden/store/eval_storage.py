"""The storage seam of evaluations: datasets (versioned items), experiment runs and grades.

Rows cross this seam as plain dicts (the columns of :data:`DATASET_COLUMNS`,
:data:`ITEM_COLUMNS`, :data:`RUN_COLUMNS`, :data:`OUTPUT_COLUMNS`, :data:`GRADE_COLUMNS`).
A dataset's items are append-only: adding items makes a new version; version ``v`` holds,
per item id, the latest row added at a version up to ``v``. Runs and their grades are kept
until deleted with the dataset (evaluations are not telemetry: no retention).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

__all__ = [
    "DATASET_COLUMNS",
    "GRADE_COLUMNS",
    "ITEM_COLUMNS",
    "OUTPUT_COLUMNS",
    "RUN_COLUMNS",
    "EvalStorage",
]

DATASET_COLUMNS = ("name", "description", "created_at", "version", "items")
ITEM_COLUMNS = ("id", "version", "input", "output", "expected_output", "context", "metadata",
                "source_trace_id", "source_span_id", "added_at")  # fmt: skip
RUN_COLUMNS = ("id", "name", "dataset", "version", "task", "evaluators", "status", "done",
               "total", "error", "created_at", "started_at", "finished_at", "tokens",
               "cost")  # fmt: skip
OUTPUT_COLUMNS = ("item_id", "output", "tokens", "cost", "latency_ms", "error")
GRADE_COLUMNS = ("item_id", "evaluator", "value", "passed", "detail", "template", "tokens",
                 "cost")  # fmt: skip


class EvalStorage(ABC):
    """Datasets, runs and grades of a project."""

    @abstractmethod
    def create_dataset(self, project: str, name: str, description: str | None) -> dict[str, Any]:
        """A new, empty dataset (version 0); :class:`ConflictError` if the name is taken."""

    @abstractmethod
    def list_datasets(self, project: str) -> list[dict[str, Any]]: ...

    @abstractmethod
    def get_dataset(self, project: str, name: str) -> dict[str, Any]:
        """:data:`DATASET_COLUMNS`; :class:`NotFoundError` for an unknown name."""

    @abstractmethod
    def add_items(self, project: str, name: str, items: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Append items as a new version (under one transaction): ``{"version", "added",
        "replaced"}`` (replaced: ids the previous version held already)."""

    @abstractmethod
    def dataset_items(
        self, project: str, name: str, version: int | None = None
    ) -> list[dict[str, Any]]:
        """:data:`ITEM_COLUMNS` of version ``version`` (default: the latest), by id."""

    @abstractmethod
    def put_run(self, project: str, run: dict[str, Any]) -> None:
        """Store a new run (:data:`RUN_COLUMNS`; ``task`` and ``evaluators`` as JSON text)."""

    @abstractmethod
    def update_run(self, project: str, run_id: str, **fields: Any) -> None:
        """Set some columns of a run (status, done, error, times, tokens, cost)."""

    @abstractmethod
    def interrupt_runs(self) -> int:
        """At start-up: runs a previous process left ``queued`` or ``running`` end
        ``cancelled`` (their finished items kept). Returns how many."""

    @abstractmethod
    def put_run_rows(
        self,
        project: str,
        run_id: str,
        outputs: Sequence[dict[str, Any]],
        grades: Sequence[dict[str, Any]],
    ) -> None:
        """Store outputs (:data:`OUTPUT_COLUMNS`) and grades (:data:`GRADE_COLUMNS`)."""

    @abstractmethod
    def get_run(self, project: str, run_id: str) -> dict[str, Any]:
        """:data:`RUN_COLUMNS`; :class:`NotFoundError` for an unknown id."""

    @abstractmethod
    def list_runs(self, project: str, dataset: str | None = None) -> list[dict[str, Any]]:
        """Runs, newest first."""

    @abstractmethod
    def run_outputs(self, project: str, run_id: str) -> list[dict[str, Any]]: ...

    @abstractmethod
    def run_grades(self, project: str, run_id: str) -> list[dict[str, Any]]: ...
