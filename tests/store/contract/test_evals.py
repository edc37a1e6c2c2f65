"""Contract of :class:`~mlwarden.store.protocols.EvalRepository`: dataset versions (each item
as last added), runs, their outputs and grades (replaced per key), interrupted runs."""

from __future__ import annotations

import pytest

from mlwarden.errors import ConflictError, NotFoundError
from mlwarden.evals.items import validate_items
from mlwarden.store import Store
from mlwarden.store.protocols import EvalRepository

PROTOCOL = EvalRepository


def test_dataset_versions(engine: Store) -> None:
    engine.create_dataset("p", "faq", "questions")
    with pytest.raises(ConflictError):
        engine.create_dataset("p", "faq", None)
    v1 = validate_items([{"id": "a", "input": "2+2?"}, {"id": "b", "input": "hi"}]).items
    assert engine.add_items("p", "faq", v1) == {"version": 1, "added": 2, "replaced": 0}
    v2 = validate_items([{"id": "a", "input": "2+2?", "expected_output": "4"}]).items
    assert engine.add_items("p", "faq", v2) == {"version": 2, "added": 1, "replaced": 1}
    assert [i["expected_output"] for i in engine.dataset_items("p", "faq", 1)] == [None, None]
    latest = {i["id"]: i["expected_output"] for i in engine.dataset_items("p", "faq")}
    assert latest == {"a": "4", "b": None}
    assert engine.dataset_items("p", "faq", 0) == []
    with pytest.raises(NotFoundError, match="no version 3"):
        engine.dataset_items("p", "faq", 3)
    with pytest.raises(NotFoundError):
        engine.add_items("p", "absent", v1)
    (ds,) = engine.list_datasets("p")
    assert (ds["name"], ds["description"], ds["version"], ds["items"]) == ("faq", "questions", 2, 2)
    assert engine.list_datasets("other") == []


def test_runs_rows_and_interruption(engine: Store) -> None:
    engine.create_dataset("p", "faq", None)
    base = {"dataset": "faq", "version": 0, "task": "{}", "evaluators": "[]", "total": 2}
    engine.put_run("p", {**base, "id": "r1", "status": "running", "done": 1})
    engine.put_run("p", {**base, "id": "r2", "status": "done", "done": 2})
    engine.update_run("p", "r2", tokens=30, cost=0.5)
    out = {
        "item_id": "a",
        "output": "4",
        "tokens": 3,
        "cost": 0.1,
        "latency_ms": 5.0,
        "error": None,
    }
    grade = {"item_id": "a", "evaluator": "exact", "value": 1.0, "passed": True, "detail": "",
             "template": None, "tokens": 0, "cost": 0.0}  # fmt: skip
    engine.put_run_rows("p", "r1", [out], [grade])
    engine.put_run_rows(
        "p", "r1", [{**out, "output": "5"}], [{**grade, "value": 0.0, "passed": False}]
    )
    assert [(o["item_id"], o["output"]) for o in engine.run_outputs("p", "r1")] == [("a", "5")]
    assert [(g["value"], g["passed"]) for g in engine.run_grades("p", "r1")] == [(0.0, False)]
    assert engine.interrupt_runs() == 1
    r1, r2 = engine.get_run("p", "r1"), engine.get_run("p", "r2")
    assert (r1["status"], r1["done"]) == ("cancelled", 1) and "start it again" in r1["error"]
    assert (r2["status"], r2["tokens"], r2["cost"]) == ("done", 30, 0.5)
    assert {r["id"] for r in engine.list_runs("p", "faq")} == {"r1", "r2"}
    with pytest.raises(NotFoundError):
        engine.get_run("p", "r9")
