"""LLM-as-a-judge: a model you choose grades a sample of each window's answers.

Off by default (never added by the automatic set-up): you add it to a model's monitoring spec
with an OpenAI-compatible ``endpoint`` (a local model server, a gateway, a provider) and a
``model``. It is the one monitor kind that makes network calls, and only to that endpoint.
Each window, up to ``sample`` LLM calls with a prompt and a response are picked (the same ones
each time the window is evaluated); each is sent to the judge with the ``criteria`` and graded
1-5. A grade below ``min_score`` fails; the window alerts when more than ``max_fail_rate`` of
its graded answers fail.

The judge's own calls are recorded as spans of the model's service (``span_type = "judge"``,
child of the span they grade, user and session left empty), priced from the price table like
any call, so its tokens and cost show in usage, budgets and the LLM tab. A graded span is not
sent again when its window is re-evaluated: the grade is read back from its judge span.

A slow or dead judge does not stall the server's evaluations: the scheduler evaluates this kind
on the grades stored already (``calls_out``), and the judge job (:mod:`mlwarden.monitors.judging`)
makes the calls on a thread of its own, then stores the window's result again. Calls go
``concurrency`` at a time, no new round starts once ``budget_s`` seconds have passed (so a
window spends at most ``budget_s`` plus one call's ``timeout_s`` on the judge), a round in which
no call reached the endpoint stops the rest, and a stopping job leaves its calls in flight
behind. Answers left unjudged are counted (``details.skipped``) and judged later.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Self

import orjson
import pyarrow as pa

from mlwarden.errors import ConfigError, expected
from mlwarden.monitors.base import (
    MONITORS,
    Monitor,
    Objective,
    Result,
    Severity,
    Status,
    ThresholdPlan,
)
from mlwarden.monitors.context import FitContext, WindowData
from mlwarden.monitors.llm_embedding_drift import masked_preview
from mlwarden.schema.pricing import PRICES_ENV, load_prices
from mlwarden.store.aggregates import Request
from mlwarden.store.span_aggregates import JUDGE_TYPE, SpanTexts

if TYPE_CHECKING:  # imported on first use: ~0.1 s every report and CLI call would pay
    import httpx

__all__ = ["LlmJudge", "judge_messages", "parse_verdict"]

DEFAULT_CRITERIA = "Is the answer helpful, correct and on topic for the question?"
MAX_TEXT = 4000
#: How a judge call's error message starts when the endpoint was not reached (or timed out).
UNREACHED = "the judge could not be reached"
_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


def judge_messages(criteria: str, prompt: str, response: str) -> list[dict[str, str]]:
    """The chat messages sent to the judge for one answer."""
    return [
        {
            "role": "system",
            "content": (
                "You are an impartial evaluator. Grade the ANSWER to the QUESTION against this "
                f"criterion: {criteria} Reply with JSON only: "
                '{"score": <integer 1 to 5, 5 best>, "reason": "<one sentence>"}'
            ),
        },
        {
            "role": "user",
            "content": f"QUESTION:\n{prompt[:MAX_TEXT]}\n\nANSWER:\n{response[:MAX_TEXT]}",
        },
    ]


def parse_verdict(content: str) -> tuple[int, str] | None:
    """``(score, reason)`` from a judge's reply (a JSON object, possibly inside prose or a
    Markdown fence), or None when it holds no score from 1 to 5.

    Examples
    --------
    >>> parse_verdict('```json\\n{"score": 4, "reason": "mostly right"}\\n```')
    (4, 'mostly right')
    >>> parse_verdict("I would rate this highly.") is None
    True
    """
    m = _OBJECT.search(content or "")
    if m is None:
        return None
    try:
        data = json.loads(m.group(0))
    except ValueError:
        return None
    score = data.get("score") if isinstance(data, dict) else None
    if isinstance(score, bool) or not isinstance(score, int | float) or not 1 <= score <= 5:
        return None
    return int(round(score)), str(data.get("reason", ""))[:300]


@MONITORS.register
class LlmJudge(Monitor):
    """Share of sampled answers an LLM judge grades below ``min_score`` (1-5) against
    ``criteria``: alerts above ``max_fail_rate``, warns above half of it. The judge is any
    OpenAI-compatible chat endpoint; its key, if it needs one, is read from the environment
    variable named by ``api_key_env`` (never stored in the spec). Its calls are spans of their
    own, priced like any call.

    Examples
    --------
    >>> LlmJudge(endpoint="http://127.0.0.1:8080/v1", model="qwen2.5-7b-instruct").id
    'llm_judge'
    """

    kind: ClassVar[str] = "llm_judge"
    objective: ClassVar[Objective] = Objective.PERFORMANCE
    family: ClassVar[str] = "llm_judge"
    tab: ClassVar[str] = "llm"
    batch: ClassVar[bool] = False
    severity: ClassVar[Severity] = Severity.MEDIUM
    source: ClassVar[str] = "spans"
    min_rows: ClassVar[int] = 5
    calls_out: ClassVar[bool] = True

    def __init__(
        self,
        *,
        endpoint: str,
        model: str,
        criteria: str = DEFAULT_CRITERIA,
        api_key_env: str | None = None,
        sample: int = 20,
        min_score: int = 3,
        max_fail_rate: float = 0.2,
        timeout_s: float = 30.0,
        budget_s: float = 60.0,
        concurrency: int = 4,
    ) -> None:
        self.endpoint = endpoint
        self.model = model
        self.criteria = criteria
        self.api_key_env = api_key_env
        self.sample = sample
        self.min_score = min_score
        self.max_fail_rate = max_fail_rate
        self.timeout_s = timeout_s
        self.budget_s = budget_s
        self.concurrency = concurrency

    def fit(self, ctx: FitContext) -> Self:
        if not isinstance(self.endpoint, str) or not re.match(r"^https?://[^/\s]+", self.endpoint):
            raise ConfigError(
                expected(
                    "parameter",
                    "endpoint",
                    "be an http(s) URL of an OpenAI-compatible API",
                    self.endpoint,
                )  # fmt: skip
            )
        if not isinstance(self.model, str) or not self.model:
            raise ConfigError(
                expected("parameter", "model", "be the judge model's name", self.model)
            )
        if self.api_key_env is not None and not os.environ.get(self.api_key_env):
            raise ConfigError(
                f"The environment variable {self.api_key_env!r} named by 'api_key_env' is not set "
                "on the server."
            )
        checks = (
            ("sample", self.sample, 1 <= self.sample <= 1000, "be an integer from 1 to 1000"),
            ("min_score", self.min_score, 1 < self.min_score <= 5, "be an integer from 2 to 5"),
            ("max_fail_rate", self.max_fail_rate, 0 <= self.max_fail_rate < 1, "be in [0, 1)"),
            ("timeout_s", self.timeout_s, self.timeout_s > 0, "be > 0"),
            ("budget_s", self.budget_s, self.budget_s > 0, "be > 0"),
            ("concurrency", self.concurrency, 1 <= self.concurrency <= 32, "be from 1 to 32"),
        )
        for name, value, ok, must in checks:
            if not ok:
                raise ConfigError(expected("parameter", name, must, value))
        self.key_ = hashlib.sha256(f"{self.model}\n{self.criteria}".encode()).hexdigest()[:16]
        return self

    def _request(self) -> SpanTexts:
        return SpanTexts("response", self.sample, judged=True)

    def requests(self) -> list[Request]:
        return [self._request()]

    def threshold_plan(self, rows: int) -> ThresholdPlan:
        return ThresholdPlan(
            how=f"A stated limit: alerts above {self.max_fail_rate:.0%} of {self.sample} sampled "
            f"answers graded below {self.min_score}, warns above half of it; how often a "
            "healthy app crosses it depends on the judge.",
            threshold=self.max_fail_rate,
            warn=self.max_fail_rate / 2,
        )

    def evaluate(self, data: WindowData) -> Result:
        table: pa.Table | None = data.get(self._request())
        rows = [] if table is None else table.to_pylist()
        picked: dict[str, dict[str, Any]] = {}
        for r in rows:  # one row per span (it may have judge spans of other judges)
            known = _verdict(r.get("judge_attributes"), self.key_)
            cur = picked.setdefault(r["span_id"], {**r, "known": None})
            cur["known"] = cur["known"] or known
        if not picked:
            return self.result(data, Status.NO_DATA, reason="No answers to judge in this window.")
        grades: list[tuple[int, str, dict[str, Any]]] = []
        errors: list[str] = []
        calls = tokens = skipped = 0
        cost = 0.0
        stopped = ""
        todo: list[dict[str, Any]] = []
        for r in picked.values():
            if r["known"] is not None:
                grades.append((*r["known"], r))
            else:
                todo.append(r)
        if not data.call_out:
            todo, skipped = [], len(todo)
            stopped = "the judge job grades them" if skipped else ""
        if todo:
            calls, tokens, cost, skipped, stopped = self._call_out(data, todo, grades, errors)
        n = len(grades)
        failed = [g for g in grades if g[0] < self.min_score]
        details: dict[str, Any] = {
            "judged": n,
            "failed": len(failed),
            "mean_score": round(sum(g[0] for g in grades) / n, 3) if n else None,
            "judge_calls": calls,
            "judge_errors": len(errors),
            "judge_tokens": tokens,
            "judge_cost": cost,
            "skipped": skipped,
            "worst": {
                masked_preview(str(g[2]["prompt"]), 80): f"{g[0]}: {g[1]}"
                for g in sorted(grades, key=lambda g: g[0])[:3]
            },  # fmt: skip
        }
        rate = len(failed) / n if n else 0.0
        left = f"; {skipped} answers left for the next evaluation: {stopped}" if skipped else ""
        if n < self.min_rows:
            why = (f"; judge errors: {errors[0]}" if errors else "") + left
            return self.result(
                data,
                Status.INSUFFICIENT_DATA,
                value=rate if n else None,
                n=n,
                details=details,
                reason=f"{n} answers graded; at least {self.min_rows} are needed{why}",
            )
        warn = self.max_fail_rate / 2
        status = (
            Status.ALERT if rate > self.max_fail_rate else Status.WARN if rate > warn else Status.OK
        )
        return self.result(
            data,
            status,
            value=rate,
            threshold=float(self.max_fail_rate),
            warn=warn,
            n=n,
            details=details,
            reason=(
                f"{rate:.0%} of {n} sampled answers graded below {self.min_score} by {self.model} "
                f"(mean {details['mean_score']}; threshold {self.max_fail_rate:.0%}){left}"
            ),
        )

    def _call_out(
        self,
        data: WindowData,
        todo: list[dict[str, Any]],
        grades: list[tuple[int, str, dict[str, Any]]],
        errors: list[str],
    ) -> tuple[int, int, float, int, str]:
        """Ask the judge about ``todo`` in rounds (grades and errors appended); returns the
        calls made, their tokens and cost, the answers skipped, and why it stopped early."""
        import httpx

        calls = tokens = skipped = 0
        cost = 0.0
        stopped = ""
        deadline = time.monotonic() + self.budget_s
        with httpx.Client(timeout=self.timeout_s) as http:
            for at in range(0, len(todo), self.concurrency):
                chunk = todo[at : at + self.concurrency]
                if not stopped and time.monotonic() >= deadline:
                    stopped = f"the judge's budget of {self.budget_s:g} s per evaluation ran out"
                answers = None if stopped else self._round(http, chunk, data.stop)
                if answers is None:
                    stopped = stopped or "the judge job stopped"
                    skipped += len(chunk)
                    continue
                reached = 0
                for r, (verdict, row, ok) in zip(chunk, answers, strict=True):
                    data.emitted.append(row)
                    calls += 1
                    reached += ok
                    tokens += int(row.get("total_tokens") or 0)
                    cost += float(row.get("cost") or 0.0)
                    if verdict is None:
                        errors.append(row.get("status_message") or "the judge gave no 1-5 score")
                    else:
                        grades.append((*verdict, r))
                if not reached:
                    stopped = f"no call of a round of {len(chunk)} reached the judge"
        return calls, tokens, cost, skipped, stopped

    def _round(
        self, http: httpx.Client, chunk: list[dict[str, Any]], stop: Callable[[], bool] | None
    ) -> list[_Answer] | None:
        """One round of calls, at once, each on a daemon thread; None when ``stop`` says so
        before they are all answered (the calls are left behind: nothing waits on them, not
        even the interpreter's exit, as it would on a thread pool's workers)."""
        answers: list[_Answer | None] = [None] * len(chunk)
        done = threading.Semaphore(0)

        def call(i: int, r: dict[str, Any]) -> None:
            try:
                answers[i] = self._judge(http, r)
            finally:
                done.release()

        for i, r in enumerate(chunk):
            threading.Thread(target=call, args=(i, r), name="mlwarden-judge", daemon=True).start()
        for _ in chunk:
            while not done.acquire(timeout=0.1):
                if stop is not None and stop():
                    return None
        if any(a is None for a in answers):  # a call failed in a way _judge does not catch
            return None
        return [a for a in answers if a is not None]

    def _judge(self, http: httpx.Client, r: dict[str, Any]) -> _Answer:
        """Grade one answer: the verdict (or None), the judge call's span row, and whether the
        endpoint answered at all."""
        messages = judge_messages(self.criteria, str(r["prompt"]), str(r["response"]))
        headers = {"content-type": "application/json"}
        if self.api_key_env:
            headers["authorization"] = f"Bearer {os.environ.get(self.api_key_env, '')}"
        body = {"model": self.model, "messages": messages, "temperature": 0}
        import httpx

        start = time.time_ns()
        verdict: tuple[int, str] | None = None
        status, message, content = "ok", "", None
        usage: dict[str, Any] = {}
        response_model = None
        reached = True
        try:
            resp = http.post(
                self.endpoint.rstrip("/") + "/chat/completions", json=body, headers=headers
            )
            if resp.status_code >= 400:
                status, message = "error", f"the judge answered HTTP {resp.status_code}"
            else:
                reply = resp.json()
                content = str(reply["choices"][0]["message"].get("content") or "")
                usage = reply.get("usage") or {}
                response_model = reply.get("model")
                verdict = parse_verdict(content)
                if verdict is None:
                    message = "the judge gave no 1-5 score"
        except httpx.HTTPError as exc:
            status, message = "error", f"{UNREACHED}: {type(exc).__name__}: {exc}"
            reached = False
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            status, message = "error", f"the judge's reply is not a chat completion: {exc}"
        end = time.time_ns()
        inp, out = usage.get("prompt_tokens"), usage.get("completion_tokens")
        prices = load_prices(os.environ.get(PRICES_ENV) or None)
        price = None
        for m in (response_model, self.model):
            price = prices.cost(m, input_tokens=inp, output_tokens=out)
            if price is not None:
                break
        attrs: dict[str, Any] = {"mlwarden.judge": True, "mlwarden.judge.key": self.key_,
                                 "mlwarden.judge.criteria": self.criteria}  # fmt: skip
        if verdict is not None:
            attrs |= {"mlwarden.judge.score": verdict[0], "mlwarden.judge.reason": verdict[1]}
        span_id = hashlib.sha256(f"{self.key_}|{r['trace_id']}|{r['span_id']}".encode()).hexdigest()
        row = {
            "trace_id": r["trace_id"],
            "span_id": span_id[:16],
            "parent_span_id": r["span_id"],
            "name": f"judge {self.model}",
            "kind": "client",
            "span_type": JUDGE_TYPE,
            "start_ns": start,
            "end_ns": end,
            "duration_ms": (end - start) / 1e6,
            "status_code": status,
            "status_message": message or None,
            "scope_name": "mlwarden.judge",
            "operation": "chat",
            "request_model": self.model,
            "response_model": response_model,
            "model": response_model or self.model,
            "input_tokens": inp,
            "output_tokens": out,
            "total_tokens": usage.get("total_tokens"),
            "cost": float(price.amount) if price is not None else None,
            "price_version": price.version if price is not None else None,
            "prompt": "\n".join(f"{m['role']}: {m['content']}" for m in messages),
            "response": content,
            "attributes": orjson.dumps(attrs).decode(),
        }
        return verdict, row, reached


#: A judge call: its verdict (or None), its span row, and whether the endpoint answered.
_Answer = tuple[tuple[int, str] | None, dict[str, Any], bool]


def _verdict(attributes: Any, key: str) -> tuple[int, str] | None:
    """The grade an earlier call of this judge (same model and criteria) stored on its span."""
    if not attributes:
        return None
    try:
        a = orjson.loads(attributes)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(a, dict) or a.get("mlwarden.judge.key") != key:
        return None
    score = a.get("mlwarden.judge.score")
    if isinstance(score, bool) or not isinstance(score, int):
        return None
    return score, str(a.get("mlwarden.judge.reason", ""))
