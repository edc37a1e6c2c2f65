"""Evaluation storage on a DuckDB file: versions of a dataset, and runs a stopped server left
unfinished ending ``cancelled`` when the store is opened again."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlwarden.errors import ConflictError, NotFoundError
from mlwarden.evals.items import validate_items
from mlwarden.store.duckdb_engine import DuckDBStore


def test_versions_hold_each_item_as_last_added_and_runs_left_running_are_cancelled(
    tmp_path: Path,
) -> None:
    path = tmp_path / "evals.duckdb"
    with DuckDBStore(path) as store:
        store.create_dataset("p", "faq", None)
        with pytest.raises(ConflictError):
            store.create_dataset("p", "faq", None)
        v1 = validate_items([{"id": "a", "input": "2+2?"}, {"id": "b", "input": "hi"}]).items
        assert store.add_items("p", "faq", v1) == {"version": 1, "added": 2, "replaced": 0}
        v2 = validate_items([{"id": "a", "input": "2+2?", "expected_output": "4"}]).items
        assert store.add_items("p", "faq", v2) == {"version": 2, "added": 1, "replaced": 1}
        assert [i["expected_output"] for i in store.dataset_items("p", "faq", 1)] == [None, None]
        latest = {i["id"]: i["expected_output"] for i in store.dataset_items("p", "faq")}
        assert latest == {"a": "4", "b": None}
        with pytest.raises(NotFoundError, match="no version 3"):
            store.dataset_items("p", "faq", 3)
        store.put_run("p", {"id": "r1", "dataset": "faq", "version": 2, "task": "{}",
                            "evaluators": "[]", "status": "running", "done": 1, "total": 2})  # fmt: skip
    with DuckDBStore(path) as store:
        assert store.list_datasets("p")[0]["version"] == 2
        assert store.interrupt_runs() == 1
        run = store.get_run("p", "r1")
        assert (run["status"], run["done"]) == ("cancelled", 1)
        assert "start it again" in run["error"]
