"""Every evaluator kind (offline ones and judges), and specs turned into evaluators.

Examples
--------
>>> ev = build_evaluator({"kind": "exact_match", "ignore_case": True})
>>> ev.label, ev.spec()
('exact_match', {'kind': 'exact_match', 'ignore_case': True, 'name': None})
>>> build_evaluator({"kind": "regex", "pattern": "("})
Traceback (most recent call last):
...
mlwarden.errors.ValidationError: The 'pattern' parameter of evaluator 'regex' must be a regular expression of at most 1000 characters. Got '(' instead.
>>> EVALUATORS.keys()
['embedding_similarity', 'exact_match', 'injection', 'json_schema', 'llm_judge', 'pii', 'refusal', 'regex']
"""  # noqa: E501

from __future__ import annotations

import inspect
from typing import Any

from mlwarden.errors import ConfigError, ValidationError, expected
from mlwarden.evals import judges as _judges  # noqa: F401 - registers the judge kind
from mlwarden.evals.evaluators import EVALUATORS, Evaluator

__all__ = ["EVALUATORS", "MAX_EVALUATORS", "build_evaluator", "build_evaluators", "describe"]

MAX_EVALUATORS = 20


def build_evaluator(spec: Any) -> Evaluator:
    """An evaluator from ``{"kind": ..., **params}``, checked; :class:`ValidationError`
    names what is wrong."""
    if not isinstance(spec, dict) or not isinstance(spec.get("kind"), str):
        raise ValidationError(expected("field", "evaluators[]", 'be an object with a "kind"', spec))
    try:
        cls = EVALUATORS.get(spec["kind"])
    except ConfigError as exc:
        raise ValidationError(str(exc)) from exc
    params = inspect.signature(cls).parameters
    args = {k: v for k, v in spec.items() if k != "kind"}
    unknown = sorted(set(args) - set(params))
    if unknown:
        must = f"be one of {', '.join(params) or '(none)'}"
        raise ValidationError(
            expected(f"parameter of evaluator {cls.kind!r}", unknown[0], must, unknown[0])
        )
    missing = [
        p.name
        for p in params.values()
        if p.default is inspect.Parameter.empty and p.name not in args
    ]
    if missing:
        raise ValidationError(
            f"The {missing[0]!r} parameter of evaluator {cls.kind!r} is required."
        )
    ev = cls(**args)
    try:
        ev.check()
    except ConfigError as exc:  # a parameter a lower layer refused: bad input here
        raise ValidationError(str(exc)) from exc
    return ev


def build_evaluators(specs: Any) -> list[Evaluator]:
    """Evaluators from a list of specs; result names must be distinct."""
    if not isinstance(specs, list) or not 0 < len(specs) <= MAX_EVALUATORS:
        must = f"be a list of 1 to {MAX_EVALUATORS} evaluators"
        raise ValidationError(expected("field", "evaluators", must, specs))
    out = [build_evaluator(s) for s in specs]
    names = [e.label for e in out]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise ValidationError(f"Two evaluators are named {dup!r}; give one a distinct 'name'.")
    return out


def describe() -> list[dict[str, Any]]:
    """Each kind: its description, scale, whether it calls an endpoint, its parameters."""
    out = []
    for kind in EVALUATORS.keys():
        cls = EVALUATORS.get(kind)
        params = {
            p.name: None if p.default is inspect.Parameter.empty else p.default
            for p in inspect.signature(cls).parameters.values()
        }
        doc = " ".join((cls.__doc__ or "").split())
        out.append({"kind": kind, "description": doc, "scale": cls.scale, "remote": cls.remote,
                    "params": params})  # fmt: skip
    return out
