"""Two experiment runs of one dataset side by side: per item and per evaluator.

:func:`compare_runs` reads both runs' outputs and grades and returns, for each evaluator
graded in both, the :class:`~mlwarden.evals.paired.Comparison` of their values on the items
both graded, and per item: both outputs and each evaluator's two values and difference.
Runs of different datasets cannot be compared; of different versions of one dataset, only
their common items are.
"""

from __future__ import annotations

from typing import Any

from mlwarden.errors import ValidationError
from mlwarden.evals.catalog import EVALUATORS
from mlwarden.evals.paired import compare_scores
from mlwarden.store.eval_storage import EvalStorage

__all__ = ["compare_runs"]


def _scale(run: dict[str, Any], name: str) -> str:
    import orjson

    for spec in orjson.loads(run["evaluators"] or "[]"):
        label = spec.get("name") or (spec.get("template") if spec["kind"] == "llm_judge" else None)
        if (label or spec["kind"]) == name and spec["kind"] in EVALUATORS:
            return EVALUATORS.get(spec["kind"]).scale
    return "numeric"


def compare_runs(store: EvalStorage, project: str, a: str, b: str) -> dict[str, Any]:
    """The comparison of run ``b`` against run ``a`` (differences are ``b - a``)."""
    ra, rb = store.get_run(project, a), store.get_run(project, b)
    if ra["dataset"] != rb["dataset"]:
        raise ValidationError(
            f"Runs {a!r} and {b!r} are of different datasets ({ra['dataset']!r}, "
            f"{rb['dataset']!r}); only runs of one dataset can be compared."
        )
    items = {
        i["id"]: i
        for i in store.dataset_items(project, ra["dataset"], max(ra["version"], rb["version"]))
    }
    outs = {
        k: {o["item_id"]: o for o in store.run_outputs(project, r)} for k, r in (("a", a), ("b", b))
    }
    grades: dict[str, dict[tuple[str, str], dict[str, Any]]] = {
        k: {(g["evaluator"], g["item_id"]): g for g in store.run_grades(project, r)}
        for k, r in (("a", a), ("b", b))
    }
    names = sorted({n for n, _ in grades["a"]} & {n for n, _ in grades["b"]})
    order = {k: n for n, k in enumerate(items)}
    common = sorted(set(outs["a"]) & set(outs["b"]), key=lambda i: (order.get(i, len(order)), i))
    evaluators = []
    for name in names:
        both = [(float(x), float(y)) for i in common
                if (x := grades["a"].get((name, i), {}).get("value")) is not None
                and (y := grades["b"].get((name, i), {}).get("value")) is not None]  # fmt: skip
        c = compare_scores([p[0] for p in both], [p[1] for p in both], scale=_scale(ra, name))
        evaluators.append({"evaluator": name, **c.to_dict()})
    rows = []
    for i in common:
        it = items.get(i, {})
        per = {}
        for name in names:
            va = grades["a"].get((name, i), {}).get("value")
            vb = grades["b"].get((name, i), {}).get("value")
            per[name] = {"a": va, "b": vb,
                         "diff": None if va is None or vb is None else vb - va}  # fmt: skip
        rows.append({"item_id": i, "input": it.get("input"), "expected_output": it.get("expected_output"),
                     "output_a": outs["a"][i]["output"], "output_b": outs["b"][i]["output"],
                     "grades": per})  # fmt: skip
    return {"a": ra, "b": rb, "evaluators": evaluators, "items": rows}
