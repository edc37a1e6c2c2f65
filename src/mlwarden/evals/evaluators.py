"""Evaluators: each grades one (item, output) pair; offline ones here, judges in ``judges``.

An evaluator kind is a class registered in :data:`EVALUATORS` under its ``kind``; its
constructor arguments are its configuration (stored with every run, so a run says exactly
what graded it). :meth:`Evaluator.grade` returns a :class:`Grade`: a ``value`` (a number:
1.0 / 0.0 for pass / fail checks, a similarity, a 1-5 judge score), whether it ``passed``,
and a short ``detail``. A grade that cannot be given (no expected output to compare with)
has ``value`` None and says why: it is left out of the comparison, never counted as a fail.

Specs (``{"kind": ..., **params}``) become evaluators through
:func:`mlwarden.evals.catalog.build_evaluator`, which knows every kind.

Examples
--------
>>> ev = ExactMatch(ignore_case=True)
>>> ev.grade({"input": "q", "expected_output": "Paris"}, " paris ").passed
True
"""

from __future__ import annotations

import inspect
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson

from mlwarden._registry import Registry
from mlwarden.errors import ValidationError, expected
from mlwarden.evals import json_match
from mlwarden.stats.llm_quality import detect_refusal
from mlwarden.stats.pii import find_pii
from mlwarden.stats.prompt_injection import find_injection

__all__ = [
    "EVALUATORS",
    "Evaluator",
    "Grade",
    "check_label",
]

#: Longest output an evaluator reads (a regex over megabytes is a denial of service).
MAX_GRADED = 100_000


@dataclass(frozen=True)
class Grade:
    """One evaluator's grade of one output."""

    value: float | None
    passed: bool | None
    detail: str = ""
    tokens: int | None = None
    cost: float | None = None
    template: str | None = None  # judges: "name@version#hash" of the prompt template


class Evaluator(ABC):
    """A kind of grading. Subclasses set ``kind``, keep constructor arguments verbatim,
    check them in :meth:`check` and grade in :meth:`grade` (or :meth:`grade_all`)."""

    kind: ClassVar[str]
    #: "pass_fail": value is 1.0 / 0.0 (compared with McNemar); "numeric" (paired tests).
    scale: ClassVar[str] = "pass_fail"
    #: Whether it calls a network endpoint (judges): the run's budget and concurrency apply.
    remote: ClassVar[bool] = False

    def params(self) -> dict[str, Any]:
        """The constructor arguments (the configuration)."""
        return {p: getattr(self, p) for p in inspect.signature(type(self)).parameters}

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, **self.params()}

    @property
    def label(self) -> str:
        """The name results are stored under: ``name`` when given, else the kind."""
        return str(self.params().get("name") or self.kind)

    def bad(self, param: str, must: str, got: Any) -> ValidationError:
        return ValidationError(expected(f"parameter of evaluator {self.kind!r}", param, must, got))

    def check(self) -> None:  # noqa: B027 - most kinds check something; none is required to
        """Raise :class:`ValidationError` naming a bad parameter."""

    @abstractmethod
    def grade(self, item: dict[str, Any], output: str | None) -> Grade: ...

    def grade_remote(
        self, http: Any, item: dict[str, Any], output: str | None
    ) -> tuple[Grade, bool, bool]:
        """The grade of an evaluator that calls an endpoint with ``http`` (an
        ``httpx.Client``), whether it made a call and whether the call reached the endpoint.
        Offline evaluators make none."""
        return self.grade(item, output), False, False

    def grade_all(
        self, items: Sequence[dict[str, Any]], outputs: Sequence[str | None]
    ) -> list[Grade]:
        """Grade many (an evaluator that batches, like embeddings, overrides this)."""
        return [self.grade(i, o) for i, o in zip(items, outputs, strict=True)]


EVALUATORS: Registry[type[Evaluator]] = Registry("evaluator")


def _no_output(output: str | None) -> Grade | None:
    return Grade(None, None, "no output to grade") if output is None else None


def check_label(ev: Evaluator, name: Any) -> None:
    """Raise for a bad ``name`` parameter (the name results are stored under)."""
    if name is not None and not (isinstance(name, str) and re.fullmatch(r"[\w.\-]{1,64}", name)):
        raise ev.bad("name", "be 1-64 letters, digits, '_', '.' or '-'", name)


@EVALUATORS.register
class ExactMatch(Evaluator):
    """Pass when the output equals the expected output (after stripping white space;
    ``ignore_case`` compares case-folded)."""

    kind: ClassVar[str] = "exact_match"

    def __init__(self, *, ignore_case: bool = False, name: str | None = None) -> None:
        self.ignore_case = ignore_case
        self.name = name

    def check(self) -> None:
        if not isinstance(self.ignore_case, bool):
            raise self.bad("ignore_case", "be true or false", self.ignore_case)
        check_label(self, self.name)

    def grade(self, item: dict[str, Any], output: str | None) -> Grade:
        want = item.get("expected_output")
        if want is None:
            return Grade(None, None, "the item has no expected output")
        if (g := _no_output(output)) is not None:
            return g
        a, b = str(output).strip(), want.strip()
        if self.ignore_case:
            a, b = a.casefold(), b.casefold()
        return Grade(float(a == b), a == b)


@EVALUATORS.register
class RegexMatch(Evaluator):
    """Pass when ``pattern`` is found in the output (``re.search``; ``must_match`` false
    inverts it: pass when it is not found)."""

    kind: ClassVar[str] = "regex"

    def __init__(self, *, pattern: str, must_match: bool = True, name: str | None = None) -> None:
        self.pattern = pattern
        self.must_match = must_match
        self.name = name

    def check(self) -> None:
        compiled: re.Pattern[str] | None = None
        if isinstance(self.pattern, str) and len(self.pattern) <= 1000:
            try:
                compiled = re.compile(self.pattern)
            except re.error:
                compiled = None
        if compiled is None:
            raise self.bad(
                "pattern", "be a regular expression of at most 1000 characters", self.pattern
            )
        self.compiled_ = compiled
        if not isinstance(self.must_match, bool):
            raise self.bad("must_match", "be true or false", self.must_match)
        check_label(self, self.name)

    def grade(self, item: dict[str, Any], output: str | None) -> Grade:
        if (g := _no_output(output)) is not None:
            return g
        found = self.compiled_.search(str(output)[:MAX_GRADED]) is not None
        ok = found == self.must_match
        return Grade(float(ok), ok, "found" if found else "not found")


@EVALUATORS.register
class JsonSchemaMatch(Evaluator):
    """Pass when the output is JSON (a Markdown fence around it is allowed) matching
    ``schema`` (see :mod:`mlwarden.evals.json_match` for the keywords checked)."""

    kind: ClassVar[str] = "json_schema"

    def __init__(self, *, schema: dict[str, Any], name: str | None = None) -> None:
        self.schema = schema
        self.name = name

    def check(self) -> None:
        json_match.check_schema(self.schema)
        check_label(self, self.name)

    def grade(self, item: dict[str, Any], output: str | None) -> Grade:
        if (g := _no_output(output)) is not None:
            return g
        text = str(output).strip()
        fence = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", text, re.DOTALL)
        try:
            value = orjson.loads(fence.group(1) if fence else text)
        except orjson.JSONDecodeError:
            return Grade(0.0, False, "the output is not JSON")
        errs = json_match.errors(self.schema, value)
        return Grade(float(not errs), not errs, "; ".join(errs[:3]))


class _TextCheck(Evaluator):
    """A detector of ``mlwarden.stats`` run on the output (or the input): passes when it
    does not fire; the value is 1 - its score (1.0: clean)."""

    def __init__(self, *, field: str = "output", name: str | None = None) -> None:
        self.field = field
        self.name = name

    def check(self) -> None:
        if self.field not in ("input", "output"):
            raise self.bad("field", "be input or output", self.field)
        check_label(self, self.name)

    def detect(self, text: str) -> Any:
        raise NotImplementedError

    def grade(self, item: dict[str, Any], output: str | None) -> Grade:
        text = item.get("input") if self.field == "input" else output
        if (g := _no_output(text)) is not None:
            return g
        r = self.detect(str(text)[:MAX_GRADED])
        return Grade(1.0 - float(r.score), not r.flagged, ", ".join(r.types))


@EVALUATORS.register
class PiiCheck(_TextCheck):
    """Personal data or secrets in the output (:func:`mlwarden.stats.pii.find_pii`)."""

    kind: ClassVar[str] = "pii"

    def detect(self, text: str) -> Any:
        return find_pii(text)


@EVALUATORS.register
class InjectionCheck(_TextCheck):
    """Prompt injection (:func:`mlwarden.stats.prompt_injection.find_injection`)."""

    kind: ClassVar[str] = "injection"

    def detect(self, text: str) -> Any:
        return find_injection(text)


@EVALUATORS.register
class RefusalCheck(_TextCheck):
    """A refusal (:func:`mlwarden.stats.llm_quality.detect_refusal`)."""

    kind: ClassVar[str] = "refusal"

    def detect(self, text: str) -> Any:
        return detect_refusal(text)


@EVALUATORS.register
class EmbeddingSimilarity(Evaluator):
    """Cosine similarity of the output and the expected output in the bundled
    all-MiniLM-L6-v2 (offline); passes at ``threshold`` or above."""

    kind: ClassVar[str] = "embedding_similarity"
    scale: ClassVar[str] = "numeric"

    def __init__(self, *, threshold: float = 0.8, name: str | None = None) -> None:
        self.threshold = threshold
        self.name = name

    def check(self) -> None:
        ok = isinstance(self.threshold, int | float) and not isinstance(self.threshold, bool)
        if not ok or not -1 <= self.threshold <= 1:
            raise self.bad("threshold", "be a number in [-1, 1]", self.threshold)
        check_label(self, self.name)
        from mlwarden.stats.text_embedding import embedding_support

        reason = embedding_support()
        if reason is not None:
            raise ValidationError(reason)

    def grade(self, item: dict[str, Any], output: str | None) -> Grade:
        return self.grade_all([item], [output])[0]

    def grade_remote(
        self, http: Any, item: dict[str, Any], output: str | None
    ) -> tuple[Grade, bool, bool]:
        """The grade of an evaluator that calls an endpoint with ``http`` (an
        ``httpx.Client``), whether it made a call and whether the call reached the endpoint.
        Offline evaluators make none."""
        return self.grade(item, output), False, False

    def grade_all(
        self, items: Sequence[dict[str, Any]], outputs: Sequence[str | None]
    ) -> list[Grade]:
        from mlwarden.stats.text_embedding import load_minilm

        pairs = [(i, str(o)[:MAX_GRADED], str(it["expected_output"])) for i, (it, o)
                 in enumerate(zip(items, outputs, strict=True))
                 if o is not None and it.get("expected_output") is not None]  # fmt: skip
        out = [Grade(None, None, "no output or no expected output")] * len(items)
        if pairs:
            model = load_minilm()
            a = model.encode([p[1] for p in pairs])
            b = model.encode([p[2] for p in pairs])
            for (i, _, _), x, y in zip(pairs, a, b, strict=True):
                sim = round(float((x * y).sum()), 6)
                out[i] = Grade(sim, sim >= self.threshold)
        return out
